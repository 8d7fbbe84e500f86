import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform, type TransformCallback } from "node:stream";
import type { Digest } from "./types.ts";

export function sha256Digest(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The hex part of a digest: the blob's file name under blobs/sha256/. */
export function digestHex(digest: Digest): string {
  const hex = digest.slice("sha256:".length);
  // A digest comes from index.json files on disk; refuse anything that could escape the blobs folder.
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`not a sha256 digest: ${digest}`);
  return hex;
}

export async function fileDigest(path: string): Promise<{ digest: Digest; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    const buf = chunk as Buffer;
    hash.update(buf);
    size += buf.length;
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

/** A pass-through stream that hashes and counts what flows through it. */
export class DigestingStream extends Transform {
  private readonly hash: Hash = createHash("sha256");
  private count = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    callback(null, chunk);
  }

  /** Valid once the stream has finished. */
  result(): { digest: Digest; size: number } {
    return { digest: `sha256:${this.hash.copy().digest("hex")}`, size: this.count };
  }
}
