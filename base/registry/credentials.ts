import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { htkError, isHtkError } from "../errors/index.ts";
import { authKeyFor } from "../oci/reference.ts";

/**
 * Registry credentials as `docker login` leaves them: `~/.docker/config.json` (`$DOCKER_CONFIG`)
 * `auths` entries (base64 "user:password" in `auth`, or an OAuth `identitytoken`), and the
 * credential-helper protocol (`credsStore` for every registry, `credHelpers` per registry) that runs
 * `docker-credential-<name> get|store|erase|list` with the server URL or a JSON object on stdin.
 */

/** What a registry may be authenticated with. */
export type Credentials =
  | { readonly kind: "basic"; readonly username: string; readonly password: string }
  /** An OAuth2 refresh token (`identitytoken`), exchanged at the token realm for access tokens. */
  | { readonly kind: "identity-token"; readonly username: string; readonly token: string }
  /** A bearer token to send as is (`registrytoken`). */
  | { readonly kind: "registry-token"; readonly token: string };

/** Where credentials come from; the client asks once per registry host and caches the answer. */
export interface CredentialSource {
  /** `host` is the registry's domain as in the reference ("docker.io", "127.0.0.1:5000"). */
  get(host: string, signal?: AbortSignal): Promise<Credentials | undefined>;
}

/** No credentials for anyone (anonymous pulls). */
export const anonymous: CredentialSource = { get: () => Promise.resolve(undefined) };

/** A fixed table, for tests and for credentials given on a command line. */
export function staticCredentials(table: Readonly<Record<string, Credentials>>): CredentialSource {
  return { get: (host) => Promise.resolve(table[host] ?? table[authKeyFor(host)]) };
}

/**
 * The authenticating fields of Docker's AuthConfig, as config.json's `auths` entries and the
 * `X-Registry-Auth` header carry them.
 */
export interface AuthEntry {
  /** base64("user:password"), as config.json stores it. */
  readonly auth?: string;
  readonly username?: string;
  readonly password?: string;
  /** An OAuth refresh token from an earlier login. */
  readonly identitytoken?: string;
  /** A bearer token to send as is. */
  readonly registrytoken?: string;
}

/**
 * An AuthConfig decoded (the `auth` field split into user and password), every field kept: what the
 * docker CLI resolves for a registry and what buildx's session hands the builder. All empty =
 * anonymous.
 */
export interface DecodedAuth {
  readonly username: string;
  readonly password: string;
  readonly identityToken: string;
  readonly registryToken: string;
}

export const NO_AUTH: DecodedAuth = { username: "", password: "", identityToken: "", registryToken: "" };

/**
 * Decodes one AuthConfig. A non-empty `auth` that holds "user:password" wins over the username and
 * password fields (docker/cli's configfile decodeAuth); the NUL padding some tools leave after the
 * password is trimmed, as Docker does. The tokens are kept beside the password, never instead of it.
 */
export function decodeAuthEntry(entry: AuthEntry): DecodedAuth {
  let username = entry.username ?? "";
  let password = entry.password ?? "";
  if (entry.auth !== undefined && entry.auth !== "") {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) {
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1).replace(/\0+$/, "");
    }
  }
  return { username, password, identityToken: entry.identitytoken ?? "", registryToken: entry.registrytoken ?? "" };
}

/** What the registry client authenticates with for an AuthConfig (config.json entry, X-Registry-Auth). */
export function credentialsOf(entry: AuthEntry): Credentials | undefined {
  return toCredentials(decodeAuthEntry(entry));
}

/** Identity token, then registry token, then user and password. */
function toCredentials(auth: DecodedAuth): Credentials | undefined {
  if (auth.identityToken !== "") return { kind: "identity-token", username: auth.username, token: auth.identityToken };
  if (auth.registryToken !== "") return { kind: "registry-token", token: auth.registryToken };
  if (auth.username !== "" && auth.password !== "") return { kind: "basic", username: auth.username, password: auth.password };
  return undefined;
}

/** The parts of config.json that concern credentials. */
export interface DockerConfigFile {
  readonly auths?: Readonly<Record<string, AuthEntry>>;
  readonly credsStore?: string;
  readonly credHelpers?: Readonly<Record<string, string>>;
}

export interface DockerConfigOptions {
  /** The folder holding config.json; default `$DOCKER_CONFIG`, else `~/.docker`. */
  readonly configDir?: string;
  /** Environment of helper processes (PATH finds them); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  readonly helperTimeoutMs?: number;
}


/**
 * Docker's `ConvertToHostname`: config keys may be full URLs ("https://host:5000/v1/"), written by
 * old clients; lookups compare the host part.
 */
export function keyHostname(key: string): string {
  let s = key;
  if (s.startsWith("http://")) s = s.slice(7);
  else if (s.startsWith("https://")) s = s.slice(8);
  const slash = s.indexOf("/");
  return slash === -1 ? s : s.slice(0, slash);
}

/** Credentials from config.json and its helpers, looked up as the docker CLI does. */
export class DockerConfigCredentials implements CredentialSource {
  readonly configFile: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #timeoutMs: number;
  #config: Promise<DockerConfigFile> | undefined;

  constructor(opts: DockerConfigOptions = {}) {
    const env = opts.env ?? process.env;
    const dir = opts.configDir ?? (env["DOCKER_CONFIG"] !== undefined && env["DOCKER_CONFIG"] !== "" ? env["DOCKER_CONFIG"] : join(homedir(), ".docker"));
    this.configFile = join(dir, "config.json");
    this.#env = env;
    this.#timeoutMs = opts.helperTimeoutMs ?? 30_000;
  }

  /** config.json as read once; a missing or unreadable file means "no credentials", as for docker. */
  config(): Promise<DockerConfigFile> {
    this.#config ??= readFile(this.configFile, "utf8").then(
      (text) => {
        try {
          const v = JSON.parse(text) as unknown;
          return typeof v === "object" && v !== null ? (v as DockerConfigFile) : {};
        } catch {
          return {};
        }
      },
      () => ({}),
    );
    return this.#config;
  }

  /** The helper that holds `host`'s credentials, if any: credHelpers first, then credsStore. */
  async helperFor(host: string): Promise<CredentialHelper | undefined> {
    const cfg = await this.config();
    const key = authKeyFor(host);
    const name = cfg.credHelpers?.[key] ?? cfg.credHelpers?.[host] ?? cfg.credsStore;
    return name === undefined || name === "" ? undefined : new CredentialHelper(name, { env: this.#env, timeoutMs: this.#timeoutMs, configFile: this.configFile });
  }

  /**
   * The AuthConfig the docker CLI resolves for `host` (its ResolveAuthConfig): the helper's answer,
   * else the file's `auths` entry, else anonymous. A helper that fails (not installed, a locked
   * keychain) counts as one that has nothing: docker ignores the error and goes on anonymously.
   */
  async authConfig(host: string, signal?: AbortSignal): Promise<DecodedAuth> {
    const cfg = await this.config();
    const key = authKeyFor(host);
    const helper = await this.helperFor(host);
    if (helper !== undefined) {
      const fromHelper = await helper.getAuth(key, signal).catch((err: unknown) => {
        if (signal?.aborted === true) throw err;
        return undefined;
      });
      if (fromHelper !== undefined) return fromHelper;
      // The CLI's native store falls back to the file's entry when the helper has none.
    }
    const auths = cfg.auths ?? {};
    const entry = auths[key] ?? Object.entries(auths).find(([k]) => keyHostname(k) === keyHostname(key))?.[1];
    return entry === undefined ? NO_AUTH : decodeAuthEntry(entry);
  }

  async get(host: string, signal?: AbortSignal): Promise<Credentials | undefined> {
    return toCredentials(await this.authConfig(host, signal));
  }
}

/** What `docker-credential-X get` prints. */
interface HelperCredentials {
  readonly ServerURL?: string;
  readonly Username?: string;
  readonly Secret?: string;
}

/** The stdout the helpers print when they have nothing for a server (docker-credential-helpers). */
const NOT_FOUND = "credentials not found in native keychain";

/** One `docker-credential-<name>` program, spoken to by the credential-helpers protocol. */
export class CredentialHelper {
  readonly name: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #timeoutMs: number;
  readonly #configFile: string;

  constructor(name: string, opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; configFile?: string } = {}) {
    this.name = name;
    this.#env = opts.env ?? process.env;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#configFile = opts.configFile ?? "~/.docker/config.json";
  }

  async get(serverUrl: string, signal?: AbortSignal): Promise<Credentials | undefined> {
    const auth = await this.getAuth(serverUrl, signal);
    return auth === undefined ? undefined : toCredentials(auth);
  }

  /** `get` as an AuthConfig; undefined when the helper has nothing for the server. */
  async getAuth(serverUrl: string, signal?: AbortSignal): Promise<DecodedAuth | undefined> {
    const r = await this.#run("get", serverUrl, signal);
    if (r.code !== 0) {
      if (r.stdout.includes(NOT_FOUND) || r.stderr.includes(NOT_FOUND)) return undefined;
      throw this.#error("get", serverUrl, r.stderr.trim() || r.stdout.trim() || `exit status ${r.code}`);
    }
    let parsed: HelperCredentials;
    try {
      parsed = JSON.parse(r.stdout) as HelperCredentials;
    } catch {
      throw this.#error("get", serverUrl, `its output is not JSON: ${JSON.stringify(r.stdout.slice(0, 200))}`);
    }
    const username = parsed.Username ?? "";
    const secret = parsed.Secret ?? "";
    if (secret === "") return undefined;
    // The helpers' convention for identity tokens (docker/cli credentials/native_store.go).
    if (username === "<token>") return { ...NO_AUTH, identityToken: secret };
    return { ...NO_AUTH, username, password: secret };
  }

  async store(serverUrl: string, creds: { username: string; secret: string }, signal?: AbortSignal): Promise<void> {
    const body = JSON.stringify({ ServerURL: serverUrl, Username: creds.username, Secret: creds.secret });
    const r = await this.#run("store", body, signal);
    if (r.code !== 0) throw this.#error("store", serverUrl, r.stderr.trim() || r.stdout.trim() || `exit status ${r.code}`);
  }

  async erase(serverUrl: string, signal?: AbortSignal): Promise<void> {
    const r = await this.#run("erase", serverUrl, signal);
    if (r.code !== 0 && !r.stdout.includes(NOT_FOUND)) throw this.#error("erase", serverUrl, r.stderr.trim() || r.stdout.trim() || `exit status ${r.code}`);
  }

  /** Server URL → user name of every stored credential. */
  async list(signal?: AbortSignal): Promise<Record<string, string>> {
    const r = await this.#run("list", "", signal);
    if (r.code !== 0) throw this.#error("list", "(all)", r.stderr.trim() || r.stdout.trim() || `exit status ${r.code}`);
    try {
      const v = JSON.parse(r.stdout) as unknown;
      return typeof v === "object" && v !== null ? (v as Record<string, string>) : {};
    } catch {
      throw this.#error("list", "(all)", `its output is not JSON: ${JSON.stringify(r.stdout.slice(0, 200))}`);
    }
  }

  #error(action: string, host: string, detail: string): Error {
    return htkError("HTK-REGISTRY-0016", { helper: this.name, action, host, detail, configFile: this.#configFile });
  }

  #run(action: string, input: string, signal?: AbortSignal): Promise<{ code: number; stdout: string; stderr: string }> {
    const program = `docker-credential-${this.name}`;
    return new Promise((resolve, reject) => {
      signal?.throwIfAborted();
      const child = spawn(program, [action], {
        env: this.#env,
        stdio: ["pipe", "pipe", "pipe"],
        ...(signal !== undefined ? { signal } : {}),
        timeout: this.#timeoutMs,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      const collect = (into: Buffer[]) => (c: Buffer) => {
        // A helper has no business printing megabytes; stop collecting rather than grow without bound.
        size += c.byteLength;
        if (size <= 1 << 20) into.push(c);
      };
      child.stdout.on("data", collect(out));
      child.stderr.on("data", collect(err));
      child.stdin.on("error", () => undefined);
      child.on("error", (e: NodeJS.ErrnoException) => {
        if (signal?.aborted === true) reject(signal.reason);
        else if (e.code === "ENOENT") reject(this.#error(action, input.startsWith("{") ? "(store)" : input, `${program} was not found on PATH`));
        else reject(isHtkError(e) ? e : this.#error(action, input, e.message));
      });
      child.on("close", (code, sig) => {
        if (signal?.aborted === true) return reject(signal.reason);
        resolve({
          code: code ?? (sig !== null ? 128 : 1),
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8") + (sig !== null ? ` (killed by ${sig})` : ""),
        });
      });
      child.stdin.end(input);
    });
  }
}
