import { runChecked, type RunResult } from "./process.ts";
import { PROGRAMS, requireProgram } from "./system.ts";

export interface SkopeoCopyOptions {
  /** "user:password" for a docker:// source / destination. */
  readonly srcCreds?: string;
  readonly destCreds?: string;
  /** Fail instead of silently re-compressing or converting (default true): digests must survive. */
  readonly preserveDigests?: boolean;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * `skopeo copy SRC DEST` between transports (`oci:DIR:ref`, `docker://host/repo:tag`,
 * `docker-archive:FILE`). TLS verification is off (the test registries speak plain HTTP on
 * 127.0.0.1) and the signature policy is not consulted (there may be no /etc/containers/policy.json).
 * A failure throws HTK-TEST-0004.
 */
export function skopeoCopy(src: string, dest: string, options: SkopeoCopyOptions = {}): Promise<RunResult> {
  requireProgram(PROGRAMS.skopeo);
  const args = ["--insecure-policy", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false"];
  if (options.preserveDigests ?? true) args.push("--preserve-digests");
  if (options.srcCreds !== undefined) args.push("--src-creds", options.srcCreds);
  if (options.destCreds !== undefined) args.push("--dest-creds", options.destCreds);
  args.push(src, dest);
  return runChecked("skopeo", args, {
    timeoutMs: options.timeoutMs ?? 120_000,
    dieWithParent: true,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
