import type { AgentProtocol, utils } from "ssh2";

/**
 * ssh2, loaded on first use: it takes ~50 ms to load, and only builds with `--ssh` need it. ssh2
 * tries its optional native parts (cpu-features, its sshcrypto addon) in try/catch; they are not built
 * here (package.json allowScripts), so its pure-JS path runs — all the agent and key code needs.
 */
export interface Ssh2 {
  readonly AgentProtocol: typeof AgentProtocol;
  readonly utils: typeof utils;
  /** OpenSSL's DER ECDSA/DSA signature as SSH's wire form (ssh2's own, not in its typings); other key types unchanged. */
  readonly convertSignature: (signature: Buffer, keyType: string) => Buffer | undefined;
}

let loading: Promise<Ssh2> | undefined;

export function loadSsh2(): Promise<Ssh2> {
  loading ??= (async () => {
    // CommonJS modules: their exports object is the default export.
    const main = (await import("ssh2")).default;
    const internal = (await import("ssh2/lib/protocol/utils.js" as string)) as { default: Pick<Ssh2, "convertSignature"> };
    return { AgentProtocol: main.AgentProtocol, utils: main.utils, convertSignature: internal.default.convertSignature };
  })();
  return loading;
}
