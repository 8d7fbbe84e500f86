/**
 * The small part of the DNS wire format (RFC 1035) the embedded resolver needs: the header and the
 * question of a query, and answers of A, AAAA and PTR records. Everything it does not answer itself
 * it forwards as the bytes it got, so it never needs to read other record types.
 *
 * Written here rather than with `dns-packet` (which is in the package lists): the project's
 * node_modules is shared and new dependencies are not installed in this session; the subset is
 * small, bounded and covered by its own tests (and by busybox's nslookup and Node's resolver).
 */

export const TYPE_A = 1;
export const TYPE_PTR = 12;
export const TYPE_AAAA = 28;
export const CLASS_IN = 1;

export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;
export const RCODE_REFUSED = 5;

export interface DnsQuestion {
  /** Lower case, without the final dot ("web.appnet"). */
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface DnsQuery {
  readonly id: number;
  readonly opcode: number;
  readonly recursionDesired: boolean;
  readonly question: DnsQuestion;
  /** The question section's bytes, echoed in the answer. */
  readonly questionBytes: Buffer;
}

export type DnsRecordData = { readonly type: typeof TYPE_A | typeof TYPE_AAAA; readonly address: Buffer } | { readonly type: typeof TYPE_PTR; readonly target: string };

export type ParsedQuery = { readonly ok: true; readonly query: DnsQuery } | { readonly ok: false; readonly id: number | undefined; readonly rcode: number };

/** Reads a name at `offset` (labels, with compression pointers); undefined when malformed. */
function readName(buf: Buffer, start: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let offset = start;
  let end: number | undefined;
  for (let jumps = 0; jumps < 32; ) {
    if (offset >= buf.length) return undefined;
    const len = buf[offset] ?? 0;
    if (len === 0) {
      const name = labels.join(".");
      return name.length > 253 ? undefined : { name, end: end ?? offset + 1 };
    }
    if ((len & 0xc0) === 0xc0) {
      if (offset + 1 >= buf.length) return undefined;
      end ??= offset + 2;
      offset = ((len & 0x3f) << 8) | (buf[offset + 1] ?? 0);
      jumps++;
      continue;
    }
    if ((len & 0xc0) !== 0 || offset + 1 + len > buf.length) return undefined;
    labels.push(buf.toString("latin1", offset + 1, offset + 1 + len).toLowerCase());
    offset += 1 + len;
  }
  return undefined;
}

/**
 * A query's header and single question. Responses, truncated headers and questions that cannot be
 * read are FORMERR; more than one question is NOTIMP (as most servers).
 */
export function parseQuery(buf: Buffer): ParsedQuery {
  if (buf.length < 12) return { ok: false, id: undefined, rcode: RCODE_FORMERR };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if ((flags & 0x8000) !== 0) return { ok: false, id: undefined, rcode: RCODE_FORMERR };
  const qd = buf.readUInt16BE(4);
  if (qd !== 1) return { ok: false, id, rcode: qd === 0 ? RCODE_FORMERR : RCODE_NOTIMP };
  const name = readName(buf, 12);
  if (name === undefined || name.end + 4 > buf.length) return { ok: false, id, rcode: RCODE_FORMERR };
  const type = buf.readUInt16BE(name.end);
  const klass = buf.readUInt16BE(name.end + 2);
  return {
    ok: true,
    query: {
      id,
      opcode: (flags >> 11) & 0xf,
      recursionDesired: (flags & 0x0100) !== 0,
      question: { name: name.name, type, class: klass },
      questionBytes: buf.subarray(12, name.end + 4),
    },
  };
}

/** A name in wire form (no compression). */
export function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.replace(/\.$/, "").split(".")) {
    if (label === "") continue;
    const b = Buffer.from(label, "latin1").subarray(0, 63);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/**
 * A response to `query`: its ID, opcode and question, QR set, RD copied; `recursionAvailable` as the
 * resolver's forwarding policy says (Docker clears RA when it may not forward). Answers are for the
 * question's name (a pointer to it) with `ttl`. Over UDP an answer that does not fit 512 bytes is cut
 * to the records that fit and marked truncated (the client asks again over TCP).
 */
export function encodeResponse(
  query: Pick<DnsQuery, "id" | "opcode" | "recursionDesired" | "questionBytes">,
  opts: { readonly rcode: number; readonly answers?: readonly DnsRecordData[]; readonly ttl?: number; readonly authoritative?: boolean; readonly recursionAvailable: boolean; readonly maxSize?: number },
): Buffer {
  const records: Buffer[] = [];
  for (const a of opts.answers ?? []) {
    const data = a.type === TYPE_PTR ? encodeName(a.target) : a.address;
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the question's name, at offset 12
    rr.writeUInt16BE(a.type, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(opts.ttl ?? 600, 6);
    rr.writeUInt16BE(data.length, 10);
    records.push(Buffer.concat([rr, data]));
  }
  const max = opts.maxSize ?? 65535;
  let size = 12 + query.questionBytes.length;
  let count = 0;
  for (const r of records) {
    if (size + r.length > max) break;
    size += r.length;
    count++;
  }
  const truncated = count < records.length;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.id, 0);
  let flags = 0x8000 | ((query.opcode & 0xf) << 11) | (opts.rcode & 0xf);
  if (opts.authoritative === true) flags |= 0x0400;
  if (truncated) flags |= 0x0200;
  if (query.recursionDesired) flags |= 0x0100;
  if (opts.recursionAvailable) flags |= 0x0080;
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(count, 6);
  return Buffer.concat([header, query.questionBytes, ...records.slice(0, count)]);
}

/** An error response for a query that could not be parsed (no question echoed). */
export function encodeError(id: number, rcode: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x8000 | (rcode & 0xf), 2);
  return header;
}

/** The address a reverse name asks for ("4.3.2.1.in-addr.arpa" → "1.2.3.4"; ip6.arpa nibbles → IPv6), or undefined. */
export function reverseAddress(name: string): { readonly family: 4 | 6; readonly address: string } | undefined {
  if (name.endsWith(".in-addr.arpa")) {
    const parts = name.slice(0, -".in-addr.arpa".length).split(".");
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
    return { family: 4, address: parts.reverse().map(Number).join(".") };
  }
  if (name.endsWith(".ip6.arpa")) {
    const nibbles = name.slice(0, -".ip6.arpa".length).split(".");
    if (nibbles.length !== 32 || nibbles.some((n) => !/^[0-9a-f]$/.test(n))) return undefined;
    const hex = nibbles.reverse().join("");
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4).replace(/^0+(?=.)/, ""));
    return { family: 6, address: groups.join(":") };
  }
  return undefined;
}
