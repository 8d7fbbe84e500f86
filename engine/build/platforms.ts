import { htkError } from "../../base/errors/index.ts";
import { formatPlatform, parsePlatform, platformEquals } from "../../base/oci/index.ts";
import type { Platform } from "../../llb/index.ts";
import { hostPlatform } from "./runtime-stack.ts";

/**
 * `--platform` (repeatable, comma-separated as buildx takes it) → the one platform this machine
 * builds. RUN steps execute natively under crun: there are no binfmt_misc handlers and no QEMU here,
 * so only the host's own platform can be built, and asking for any other is an error before the build
 * starts (HTK-BUILD-0204) rather than an `exec format error` in the first RUN step.
 */
export function buildPlatform(specs: readonly string[], host: Platform = hostPlatform()): Platform {
  const wanted = specs.flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== "");
  const foreign: string[] = [];
  for (const spec of wanted) {
    const p = parsePlatform(spec, host);
    if (!p.ok) throw htkError("HTK-CLI-0052", { spec, detail: p.error });
    if (!platformEquals(p.value, host)) foreign.push(spec);
  }
  if (foreign.length > 0) {
    throw htkError("HTK-BUILD-0204", { foreign: [...new Set(foreign)].join(", "), host: formatPlatform(host) });
  }
  return host;
}
