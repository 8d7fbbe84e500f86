import { open, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import type { SshAgentSource } from "../worker/ssh-agent.ts";
import { KeyFileError, parsePrivateKey, type AgentKey } from "../worker/ssh-keys.ts";

/** buildx's cap on a key file (100 KiB): anything longer is not a key. */
const MAX_KEY_FILE = 100 * 1024;

/**
 * `--ssh` values as buildx reads them: `ID` (the agent of $SSH_AUTH_SOCK), `ID=SOCKET` or
 * `ID=KEY[,KEY…]`. Sockets are checked to exist; key files are read and parsed now, so a bad key fails
 * before the build starts (as buildx does). The keys stay in memory only.
 */
export async function loadSshSources(specs: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Record<string, SshAgentSource>> {
  const out: Record<string, SshAgentSource> = {};
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    const id = (eq < 0 ? spec : spec.slice(0, eq)) || "default";
    let paths = eq < 0 ? [] : spec.slice(eq + 1).split(",");
    if (paths.length === 0 || (paths.length === 1 && paths[0] === "")) {
      const sock = env["SSH_AUTH_SOCK"] ?? "";
      if (sock === "") throw htkError("HTK-CLI-0050", { spec, detail: "invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set" });
      paths = [sock];
    }
    if (Object.hasOwn(out, id)) throw htkError("HTK-CLI-0050", { spec, detail: `invalid duplicate ID ${id}` });
    let socket: string | undefined;
    const keys: AgentKey[] = [];
    for (const p of paths) {
      const path = resolve(cwd, p);
      const st = await stat(path).catch((err: Error) => {
        throw htkError("HTK-CLI-0050", { spec, detail: `${path}: ${err.message}` });
      });
      if (socket !== undefined) throw htkError("HTK-CLI-0050", { spec, detail: "only single socket allowed" });
      if (st.isSocket()) {
        if (keys.length > 0) throw htkError("HTK-CLI-0050", { spec, detail: "invalid combination of keys and sockets" });
        socket = path;
        continue;
      }
      keys.push(await readKey(path));
    }
    out[id] = socket !== undefined ? { kind: "socket", path: socket } : { kind: "keys", keys };
  }
  return out;
}

async function readKey(path: string): Promise<AgentKey> {
  let bytes: Uint8Array;
  try {
    const fh = await open(path, "r");
    try {
      const buf = new Uint8Array(MAX_KEY_FILE);
      const { bytesRead } = await fh.read(buf, 0, MAX_KEY_FILE, 0);
      bytes = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw htkError("HTK-CLI-0051", { path, detail: (err as Error).message }, { cause: err });
  }
  try {
    return await parsePrivateKey(bytes, path);
  } catch (err) {
    if (err instanceof KeyFileError) throw htkError("HTK-CLI-0051", { path, detail: err.message });
    throw err;
  } finally {
    bytes.fill(0);
  }
}
