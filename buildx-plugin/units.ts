/** Time and size forms of Go and docker the plugin prints (go-units' sizes and ages: base/units.ts). */

/** Go's time.Time String() of a UTC time: `2026-01-02 15:04:05.123 +0000 UTC`. */
export function goTime(d: Date): string {
  const iso = d.toISOString();
  const frac = iso.slice(20, 23).replace(/0+$/, "");
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac === "" ? "" : `.${frac}`} +0000 UTC`;
}
