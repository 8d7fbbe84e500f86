import { findExecutable } from "./find-executable.ts";

/**
 * The static init `--init` bind-mounts at /sbin/docker-init. Docker ships tini as `docker-init`;
 * Debian's `tini` package has `tini-static`, which works in any image (busybox has no libc to load a
 * dynamic tini with). A `docker-init` on PATH wins, as dockerd's `--init-path` default would.
 */
export function findInitBinary(): string | undefined {
  return findExecutable("docker-init") ?? findExecutable("/usr/bin/tini-static") ?? findExecutable("tini-static");
}
