import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isHtkError } from "../errors/index.ts";
import { CredentialHelper, DockerConfigCredentials, credentialsOf, decodeAuthEntry, keyHostname } from "./credentials.ts";

let dir: string;
let env: NodeJS.ProcessEnv;

// A fake `docker-credential-test` speaking the credential-helpers protocol, backed by a JSON file so
// that store / erase / list round-trip; it records every call for the assertions.
const HELPER = `#!/bin/sh
db="$(dirname "$0")/helper-db.json"
log="$(dirname "$0")/helper-log.txt"
input="$(cat)"
echo "$1 $input" >> "$log"
exec node -e '
const fs = require("fs");
const [action, db, input] = process.argv.slice(1);
let data = {};
try { data = JSON.parse(fs.readFileSync(db, "utf8")); } catch {}
if (action === "get") {
  const e = data[input];
  if (!e) { process.stdout.write("credentials not found in native keychain\\n"); process.exit(1); }
  process.stdout.write(JSON.stringify({ ServerURL: input, Username: e.Username, Secret: e.Secret }));
} else if (action === "store") {
  const e = JSON.parse(input); data[e.ServerURL] = { Username: e.Username, Secret: e.Secret };
  fs.writeFileSync(db, JSON.stringify(data));
} else if (action === "erase") {
  delete data[input]; fs.writeFileSync(db, JSON.stringify(data));
} else if (action === "list") {
  process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.Username]))));
} else { process.stderr.write("unknown action"); process.exit(2); }
' "$1" "$db" "$input"
`;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "htk-creds-"));
  await writeFile(join(dir, "docker-credential-test"), HELPER);
  await chmod(join(dir, "docker-credential-test"), 0o755);
  await writeFile(join(dir, "docker-credential-broken"), "#!/bin/sh\necho 'keychain is locked' >&2\nexit 3\n");
  await chmod(join(dir, "docker-credential-broken"), 0o755);
  env = { ...process.env, PATH: `${dir}:${process.env["PATH"] ?? ""}` };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function config(value: unknown): Promise<DockerConfigCredentials> {
  await writeFile(join(dir, "config.json"), JSON.stringify(value));
  return new DockerConfigCredentials({ configDir: dir, env });
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");

describe("credentials from config.json", () => {
  it("decodes auths entries (auth, identitytoken, URL keys, Docker Hub's v1 key)", async () => {
    const creds = await config({
      auths: {
        "127.0.0.1:5000": { auth: b64("alice:s3cr:et") },
        "https://old.example.com/v1/": { auth: b64("bob:pw") },
        "https://index.docker.io/v1/": { auth: b64("hub:hubpw") },
        "tok.example.com": { identitytoken: "refresh-me", auth: b64("carol:x") },
        "reg.example.com": { registrytoken: "bearer-as-is" },
        "empty.example.com": {},
      },
    });
    expect(await creds.get("127.0.0.1:5000")).toEqual({ kind: "basic", username: "alice", password: "s3cr:et" });
    expect(await creds.get("old.example.com")).toEqual({ kind: "basic", username: "bob", password: "pw" });
    expect(await creds.get("docker.io")).toEqual({ kind: "basic", username: "hub", password: "hubpw" });
    expect(await creds.get("registry-1.docker.io")).toEqual({ kind: "basic", username: "hub", password: "hubpw" });
    expect(await creds.get("tok.example.com")).toEqual({ kind: "identity-token", username: "carol", token: "refresh-me" });
    expect(await creds.get("reg.example.com")).toEqual({ kind: "registry-token", token: "bearer-as-is" });
    expect(await creds.get("empty.example.com")).toBeUndefined();
    expect(await creds.get("unknown.example.com")).toBeUndefined();
  });

  it("treats a missing or broken config.json as no credentials", async () => {
    expect(await new DockerConfigCredentials({ configDir: join(dir, "nope"), env }).get("x")).toBeUndefined();
    await writeFile(join(dir, "config.json"), "{not json");
    expect(await new DockerConfigCredentials({ configDir: dir, env }).get("x")).toBeUndefined();
  });

  it("finds config.json through $DOCKER_CONFIG", async () => {
    await writeFile(join(dir, "config.json"), JSON.stringify({ auths: { h: { auth: b64("u:p") } } }));
    const creds = new DockerConfigCredentials({ env: { ...env, DOCKER_CONFIG: dir } });
    expect(creds.configFile).toBe(join(dir, "config.json"));
    expect(await creds.get("h")).toEqual({ kind: "basic", username: "u", password: "p" });
  });

  it("asks credHelpers, then credsStore, then falls back to auths", async () => {
    await writeFile(
      join(dir, "helper-db.json"),
      JSON.stringify({
        "helped.example.com": { Username: "helped", Secret: "hs" },
        "https://index.docker.io/v1/": { Username: "<token>", Secret: "identity" },
        "store.example.com": { Username: "stored", Secret: "ss" },
      }),
    );
    const creds = await config({
      credsStore: "test",
      credHelpers: { "helped.example.com": "test", "broken.example.com": "broken" },
      auths: { "fallback.example.com": { auth: b64("file:fp") } },
    });
    expect(await creds.get("helped.example.com")).toEqual({ kind: "basic", username: "helped", password: "hs" });
    expect(await creds.get("docker.io")).toEqual({ kind: "identity-token", username: "", token: "identity" });
    expect(await creds.get("store.example.com")).toEqual({ kind: "basic", username: "stored", password: "ss" });
    expect(await creds.get("fallback.example.com")).toEqual({ kind: "basic", username: "file", password: "fp" });
    const log = await readFile(join(dir, "helper-log.txt"), "utf8");
    expect(log).toContain("get helped.example.com");
    expect(log).toContain("get https://index.docker.io/v1/");

  });

  it("keeps the password beside an identity token in the resolved AuthConfig", async () => {
    const creds = await config({ auths: { "tok.example.com": { identitytoken: "refresh-me", auth: b64("carol:x") }, "u.example.com": { username: "u", password: "p" } } });
    expect(await creds.authConfig("tok.example.com")).toEqual({ username: "carol", password: "x", identityToken: "refresh-me", registryToken: "" });
    expect(await creds.authConfig("u.example.com")).toEqual({ username: "u", password: "p", identityToken: "", registryToken: "" });
    expect(await creds.authConfig("none.example.com")).toEqual({ username: "", password: "", identityToken: "", registryToken: "" });
  });

  it("goes on anonymously (or with the file's entry) when a helper fails, as docker does", async () => {
    const creds = await config({
      credHelpers: { "broken.example.com": "broken", "filed.example.com": "broken", "missing.example.com": "not-installed" },
      auths: { "filed.example.com": { auth: b64("file:fp") } },
    });
    expect(await creds.get("broken.example.com")).toBeUndefined();
    expect(await creds.get("filed.example.com")).toEqual({ kind: "basic", username: "file", password: "fp" });
    expect(await creds.get("missing.example.com")).toBeUndefined();
  });

  it("names the helper that failed when asked directly (HTK-REGISTRY-0016)", async () => {
    const broken = await new CredentialHelper("broken", { env }).get("x.example.com").catch((e: unknown) => e);
    expect(isHtkError(broken, "HTK-REGISTRY-0016")).toBe(true);
    expect(String(broken)).toContain("keychain is locked");
    const missing = await new CredentialHelper("not-installed", { env }).get("x.example.com").catch((e: unknown) => e);
    expect(isHtkError(missing, "HTK-REGISTRY-0016")).toBe(true);
    expect(String(missing)).toContain("docker-credential-not-installed was not found on PATH");
  });

  it("still stops on cancellation while asking a helper", async () => {
    await writeFile(join(dir, "docker-credential-slow"), "#!/bin/sh\nsleep 30\n");
    await chmod(join(dir, "docker-credential-slow"), 0o755);
    const creds = await config({ credsStore: "slow" });
    const ac = new AbortController();
    const p = creds.get("x.example.com", ac.signal);
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toThrow();
  });
});

describe("decoding an AuthConfig", () => {
  it("turns an AuthConfig (config.json entry, X-Registry-Auth) into the registry client's credentials", () => {
    expect(credentialsOf({})).toBeUndefined();
    expect(credentialsOf({ username: "a" })).toBeUndefined();
    expect(credentialsOf({ username: "a", password: "b" })).toEqual({ kind: "basic", username: "a", password: "b" });
    expect(credentialsOf({ auth: Buffer.from("a:b:c\0").toString("base64") })).toEqual({ kind: "basic", username: "a", password: "b:c" });
    expect(credentialsOf({ username: "a", identitytoken: "refresh" })).toEqual({ kind: "identity-token", username: "a", token: "refresh" });
    expect(credentialsOf({ registrytoken: "bearer" })).toEqual({ kind: "registry-token", token: "bearer" });
    // A decodable `auth` wins over the separate fields, as docker/cli's config file decoding has it.
    expect(credentialsOf({ username: "x", password: "y", auth: Buffer.from("a:b").toString("base64") })).toEqual({ kind: "basic", username: "a", password: "b" });
    expect(decodeAuthEntry({ username: "x", password: "y", auth: Buffer.from("no-colon").toString("base64") })).toEqual({ username: "x", password: "y", identityToken: "", registryToken: "" });
  });

});

describe("the credential-helper protocol", () => {
  it("stores, lists, gets and erases", async () => {
    const h = new CredentialHelper("test", { env });
    await h.store("r.example.com", { username: "u", secret: "s" });
    expect(await h.list()).toEqual({ "r.example.com": "u" });
    expect(await h.get("r.example.com")).toEqual({ kind: "basic", username: "u", password: "s" });
    await h.erase("r.example.com");
    expect(await h.get("r.example.com")).toBeUndefined();
    expect(await h.list()).toEqual({});
  });

  it("stops a helper on cancellation", async () => {
    await writeFile(join(dir, "docker-credential-slow"), "#!/bin/sh\nsleep 30\n");
    await chmod(join(dir, "docker-credential-slow"), 0o755);
    const ac = new AbortController();
    const p = new CredentialHelper("slow", { env }).get("x", ac.signal);
    setTimeout(() => ac.abort(), 50);
    const started = Date.now();
    await expect(p).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("compares config keys by host", () => {
    expect(keyHostname("https://index.docker.io/v1/")).toBe("index.docker.io");
    expect(keyHostname("http://h:5000/x")).toBe("h:5000");
    expect(keyHostname("h:5000")).toBe("h:5000");
  });
});
