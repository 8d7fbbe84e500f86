import { createPrivateKey, type KeyObject } from "node:crypto";
import type { ParsedKey, SigningRequestOptions } from "ssh2";
import { loadSsh2 } from "./ssh2.ts";

/**
 * A private key held by the in-process agent (`--ssh ID=/path/to/key`), parsed and signed by ssh2.
 * The private half stays in a closure: an AgentKey can be logged or inspected without revealing it
 * (ssh2's own parsed key would show its PEM to util.inspect).
 */
export interface AgentKey {
  /** The public half (ssh2's parse of the public blob, with the comment the agent lists). */
  readonly publicKey: ParsedKey;
  /** The signature in SSH's encoding for the key type (without the algorithm name), or undefined. */
  sign(data: Buffer, hash: SigningRequestOptions["hash"]): Buffer | undefined;
}

/** Why a key file cannot be used; the caller names the file. */
export class KeyFileError extends Error {}

/**
 * A private key file as `ssh-add` reads it: OpenSSH's own format or PEM (PKCS#1, SEC1; PKCS#8 as
 * buildx also reads it), ed25519, RSA or ECDSA (and DSA, which ssh2 supports as buildx does). Keys
 * protected by a passphrase are refused: there is no one to ask. `fallbackComment` (the file's path,
 * as ssh-add uses) names keys whose file has no comment.
 */
export async function parsePrivateKey(bytes: Uint8Array, fallbackComment: string): Promise<AgentKey> {
  const { utils, convertSignature } = await loadSsh2();
  let text = new TextDecoder().decode(bytes);
  if (!text.includes("-----BEGIN")) throw new KeyFileError("it is not a private key in OpenSSH or PEM format");
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(text)) throw encrypted();
  // ssh2 reads no PKCS#8: hand it the same key in the form it reads.
  if (text.includes("-----BEGIN PRIVATE KEY-----")) text = fromPkcs8(text);
  const key = utils.parseKey(text) as ParsedKey | Error | undefined;
  if (key === undefined || key instanceof Error) {
    const why = key?.message ?? "it holds no key";
    if (/passphrase/i.test(why)) throw encrypted();
    throw new KeyFileError(`it cannot be read as a private key (${why})`);
  }
  if (!key.isPrivateKey()) throw new KeyFileError("it is not a private key in OpenSSH or PEM format");
  const publicKey = utils.parseKey(key.getPublicSSH());
  if (publicKey instanceof Error) throw new KeyFileError(`its key type ${key.type} is not supported`);
  publicKey.comment = key.comment === "" ? fallbackComment : key.comment;
  return {
    publicKey,
    sign: (data, hash) => {
      const raw = key.sign(data, hash) as Buffer | Error;
      if (raw instanceof Error) return undefined;
      // OpenSSL's DER (r, s) becomes SSH's two mpints for ECDSA and DSA, as ssh2's own client does.
      return convertSignature(raw, key.type) || undefined;
    },
  };
}

function encrypted(): KeyFileError {
  return new KeyFileError("it is protected by a passphrase, which a build cannot ask for");
}

/** An unencrypted PKCS#8 key as PKCS#1 (RSA), SEC1 (ECDSA) or OpenSSH's format (ed25519, which has no other PEM form). */
function fromPkcs8(text: string): string {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: "pem" });
  } catch (err) {
    throw new KeyFileError(`it cannot be read as a private key (${(err as Error).message})`);
  }
  switch (key.asymmetricKeyType) {
    case "rsa":
      return key.export({ format: "pem", type: "pkcs1" }).toString();
    case "ec":
      return key.export({ format: "pem", type: "sec1" }).toString();
    case "ed25519":
      return openSshEd25519(key);
    default:
      throw new KeyFileError(`its key type ${String(key.asymmetricKeyType)} is not supported (ed25519, RSA and ECDSA are)`);
  }
}

/** PROTOCOL.key (`openssh-key-v1`, unencrypted) around one ed25519 key. */
function openSshEd25519(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" });
  const pub = Buffer.from(jwk.x ?? "", "base64url");
  const priv = Buffer.from(jwk.d ?? "", "base64url");
  const u32 = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const str = (v: Buffer | string): Buffer => Buffer.concat([u32(Buffer.byteLength(v)), Buffer.from(v)]);
  const publicBlob = Buffer.concat([str("ssh-ed25519"), str(pub)]);
  const section = Buffer.concat([u32(0), u32(0), publicBlob, str(Buffer.concat([priv, pub])), str("")]);
  const blob = Buffer.concat([Buffer.from("openssh-key-v1\0"), str("none"), str("none"), str(""), u32(1), str(publicBlob), str(section)]);
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${blob.toString("base64")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}
