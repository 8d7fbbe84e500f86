import { posix } from "node:path";

/**
 * Path rules of the builder. Paths inside a build are POSIX paths on the target filesystem, never
 * host paths: `node:path/posix` on every host.
 */

/**
 * `p` made absolute against `cwd` and normalized (`/a//b/../c` → `/a/c`), keeping a trailing slash:
 * in COPY, `dest/` means "into the directory dest", so dropping it would change the meaning.
 */
export function resolveIn(cwd: string, p: string): string {
  const abs = posix.resolve("/", cwd, p);
  return p.endsWith("/") && abs !== "/" ? `${abs}/` : abs;
}

/** A selector inside a source: absolute and normalized, `/` for the whole source. */
export function normalizeSelector(p: string): string {
  return posix.resolve("/", p);
}

/**
 * A mount target: absolute, normalized, no trailing slash. Relative targets are taken from `/`, not
 * from the working directory (RUN --mount=target=x means /x, as in BuildKit).
 */
export function normalizeTarget(p: string): string {
  return posix.resolve("/", p);
}
