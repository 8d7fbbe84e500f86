/**
 * EXPOSE port specs, as docker/go-connections `nat.ParsePortSpecs` reads them: `80`, `80/udp`,
 * `8000-8010/tcp`, and the `ip:hostPort:containerPort` forms (only the container port is exposed).
 * A range gives one key per port.
 */
export type PortParse = { readonly ok: true; readonly keys: readonly string[] } | { readonly ok: false; readonly message: string };

const PROTOCOLS = new Set(["tcp", "udp", "sctp"]);

export function parsePortSpec(raw: string): PortParse {
  let spec = raw;
  let proto = "tcp";
  const slash = spec.lastIndexOf("/");
  if (slash !== -1) {
    // `80/` is tcp, as nat.SplitProtoPort reads an empty protocol.
    proto = spec.slice(slash + 1).toLowerCase() || "tcp";
    spec = spec.slice(0, slash);
    if (!PROTOCOLS.has(proto)) return { ok: false, message: `invalid proto: ${proto}` };
  }
  // The container port is after the last colon (an IPv6 host address is in brackets).
  const colon = spec.lastIndexOf(":");
  const container = colon === -1 ? spec : spec.slice(colon + 1);
  if (container === "") return { ok: false, message: `no port specified: ${raw}<empty>` };
  const m = /^(\d+)(?:-(\d+))?$/.exec(container);
  if (m === null) return { ok: false, message: `invalid containerPort: ${container}` };
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start > 65535 || end > 65535 || end < start) return { ok: false, message: `invalid containerPort: ${container}` };
  const keys: string[] = [];
  for (let p = start; p <= end; p++) keys.push(`${p}/${proto}`);
  return { ok: true, keys };
}
