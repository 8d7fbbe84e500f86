import { createPrivateKey, sign, type JsonWebKey, type KeyObject } from "node:crypto";
import { WireReader, WireWriter } from "./ssh-agent.ts";

/**
 * A private key held by the in-process agent (`--ssh ID=/path/to/key`). The key itself stays in a
 * closure: an AgentKey can be logged or serialised without revealing it.
 */
export interface AgentKey {
  /** The public key in SSH wire form (`string type || …`), as the agent lists it. */
  readonly publicBlob: Uint8Array;
  readonly comment: string;
  /** The SSH signature blob (`string algorithm || string signature`), or undefined for flags it cannot honour. */
  sign(data: Uint8Array, flags: number): Uint8Array | undefined;
}

/** Why a key file cannot be used; the caller names the file. */
export class KeyFileError extends Error {}

/** SSH_AGENT_RSA_SHA2_256 / _512 (draft-miller-ssh-agent §5.3). */
const RSA_SHA2_256 = 2;
const RSA_SHA2_512 = 4;

const CURVES = {
  "P-256": { name: "nistp256", hash: "sha256", size: 32 },
  "P-384": { name: "nistp384", hash: "sha384", size: 48 },
  "P-521": { name: "nistp521", hash: "sha512", size: 66 },
} as const;
type Curve = keyof typeof CURVES;

/**
 * A private key file as `ssh-add` reads it: OpenSSH's own format (ed25519, RSA, ECDSA) or PEM
 * (PKCS#1, SEC1, PKCS#8). Keys protected by a passphrase are refused: there is no one to ask.
 * `fallbackComment` (the file's path, as ssh-add uses) names keys whose file has no comment.
 */
export function parsePrivateKey(bytes: Uint8Array, fallbackComment: string): AgentKey {
  const text = new TextDecoder().decode(bytes);
  const openssh = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (openssh !== null) {
    const { key, comment } = parseOpenSshKey(Buffer.from((openssh[1] ?? "").replace(/\s+/g, ""), "base64"));
    return agentKey(key, comment === "" ? fallbackComment : comment);
  }
  if (!text.includes("-----BEGIN")) throw new KeyFileError("it is not a private key in OpenSSH or PEM format");
  if (text.includes("ENCRYPTED")) throw encrypted();
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: "pem" });
  } catch (err) {
    if (/passphrase/i.test((err as Error).message)) throw encrypted();
    throw new KeyFileError(`it cannot be read as a private key (${(err as Error).message})`);
  }
  return agentKey(key, fallbackComment);
}

function encrypted(): KeyFileError {
  return new KeyFileError("it is protected by a passphrase, which a build cannot ask for");
}

/** `openssh-key-v1` (OpenSSH's PROTOCOL.key), unencrypted, first key. */
function parseOpenSshKey(blob: Uint8Array): { key: KeyObject; comment: string } {
  const magic = new TextEncoder().encode("openssh-key-v1\0");
  if (blob.byteLength < magic.byteLength || !magic.every((b, i) => blob[i] === b)) throw new KeyFileError("its OpenSSH key header is damaged");
  try {
    const r = new WireReader(blob.subarray(magic.byteLength));
    const cipher = r.text();
    r.text(); // kdf name
    r.string(); // kdf options
    if (cipher !== "none") throw encrypted();
    const count = r.uint32();
    if (count < 1) throw new KeyFileError("it holds no key");
    for (let i = 0; i < count; i++) r.string();
    const p = new WireReader(r.string());
    if (p.uint32() !== p.uint32()) throw new KeyFileError("its check bytes differ (a damaged file)");
    const type = p.text();
    let jwk: JsonWebKey;
    if (type === "ssh-ed25519") {
      const pub = p.string();
      const priv = p.string();
      jwk = { kty: "OKP", crv: "Ed25519", x: b64u(pub), d: b64u(priv.subarray(0, 32)) };
    } else if (type === "ssh-rsa") {
      const n = big(p.string());
      const e = big(p.string());
      const d = big(p.string());
      const iqmp = big(p.string());
      const pp = big(p.string());
      const q = big(p.string());
      jwk = { kty: "RSA", n: b64uBig(n), e: b64uBig(e), d: b64uBig(d), p: b64uBig(pp), q: b64uBig(q), dp: b64uBig(d % (pp - 1n)), dq: b64uBig(d % (q - 1n)), qi: b64uBig(iqmp) };
    } else if (type.startsWith("ecdsa-sha2-")) {
      const curveName = p.text();
      const crv = (Object.keys(CURVES) as Curve[]).find((c) => CURVES[c].name === curveName);
      if (crv === undefined) throw new KeyFileError(`its curve ${curveName} is not supported`);
      const size = CURVES[crv].size;
      const q = p.string();
      const d = p.string();
      if (q[0] !== 4 || q.byteLength !== 1 + 2 * size) throw new KeyFileError("its ECDSA public point is not uncompressed");
      jwk = { kty: "EC", crv, x: b64u(q.subarray(1, 1 + size)), y: b64u(q.subarray(1 + size)), d: b64u(pad(strip(d), size)) };
    } else {
      throw new KeyFileError(`its key type ${type} is not supported (ed25519, RSA and ECDSA are)`);
    }
    const comment = p.text();
    return { key: createPrivateKey({ key: jwk, format: "jwk" }), comment };
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    throw new KeyFileError(`it cannot be read as an OpenSSH key (${(err as Error).message})`);
  }
}

/** The agent's view of a key: its public blob from the JWK, and signing as OpenSSH's agent does. */
function agentKey(key: KeyObject, comment: string): AgentKey {
  const jwk = key.export({ format: "jwk" });
  switch (key.asymmetricKeyType) {
    case "ed25519": {
      const publicBlob = new WireWriter().string("ssh-ed25519").string(fromB64u(jwk.x)).bytes();
      return { publicBlob, comment, sign: (data) => new WireWriter().string("ssh-ed25519").string(sign(null, data, key)).bytes() };
    }
    case "rsa": {
      const publicBlob = new WireWriter().string("ssh-rsa").mpint(fromB64u(jwk.e)).mpint(fromB64u(jwk.n)).bytes();
      return {
        publicBlob,
        comment,
        sign: (data, flags) => {
          const [alg, hash] = (flags & RSA_SHA2_512) !== 0 ? ["rsa-sha2-512", "sha512"] : (flags & RSA_SHA2_256) !== 0 ? ["rsa-sha2-256", "sha256"] : ["ssh-rsa", "sha1"];
          return new WireWriter().string(alg).string(sign(hash, data, key)).bytes();
        },
      };
    }
    case "ec": {
      const crv = jwk.crv as Curve | undefined;
      const curve = crv === undefined ? undefined : CURVES[crv];
      if (curve === undefined) throw new KeyFileError(`its curve ${String(jwk.crv)} is not supported`);
      const type = `ecdsa-sha2-${curve.name}`;
      const q = new Uint8Array(1 + 2 * curve.size);
      q[0] = 4;
      q.set(pad(fromB64u(jwk.x), curve.size), 1);
      q.set(pad(fromB64u(jwk.y), curve.size), 1 + curve.size);
      const publicBlob = new WireWriter().string(type).string(curve.name).string(q).bytes();
      return {
        publicBlob,
        comment,
        sign: (data) => {
          const rs = sign(curve.hash, data, { key, dsaEncoding: "ieee-p1363" });
          const half = rs.byteLength / 2;
          const inner = new WireWriter().mpint(rs.subarray(0, half)).mpint(rs.subarray(half)).bytes();
          return new WireWriter().string(type).string(inner).bytes();
        },
      };
    }
    default:
      throw new KeyFileError(`its key type ${String(key.asymmetricKeyType)} is not supported (ed25519, RSA and ECDSA are)`);
  }
}

function b64u(b: Uint8Array): string {
  return Buffer.from(b).toString("base64url");
}

function fromB64u(s: string | undefined): Uint8Array {
  return new Uint8Array(Buffer.from(s ?? "", "base64url"));
}

function big(b: Uint8Array): bigint {
  return b.byteLength === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString("hex")}`);
}

function b64uBig(v: bigint): string {
  let hex = v.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return Buffer.from(hex, "hex").toString("base64url");
}

function strip(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.byteLength - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

function pad(b: Uint8Array, size: number): Uint8Array {
  if (b.byteLength >= size) return b.subarray(b.byteLength - size);
  const out = new Uint8Array(size);
  out.set(b, size - b.byteLength);
  return out;
}
