import type { Position, Range } from "./types.ts";

/**
 * The source as physical lines, the way BuildKit's `bufio.Scanner` with its line-ending-preserving
 * split function reads it: a line ends after `\n`; the last line may have no `\n`.
 */

/** BuildKit reads lines with bufio.Scanner's default buffer: a line (with its `\n`) may fill 64 KiB. */
export const MAX_LINE_BUFFER = 64 * 1024;

export interface PhysicalLine {
  /** 0-based. */
  readonly index: number;
  /** Offset in the text where the line's content starts (after a BOM on the first line). */
  readonly start: number;
  /** Offset after the content, before the trailing run of `\r`/`\n` (BuildKit `trimNewline`). */
  readonly contentEnd: number;
  /** Offset after the line ending (the next line's start). */
  readonly end: number;
  /** UTF-8 length of the whole line including BOM and line ending. */
  readonly byteLength: number;
  readonly hasNewline: boolean;
}

export interface DecodedSource {
  readonly text: string;
  /** Invalid UTF-8 sequences replaced by U+FFFD while decoding bytes. */
  readonly invalidSequences: number;
}

/** Bytes are decoded as UTF-8 (invalid sequences become U+FFFD); the BOM is kept in the text. */
export function decodeSource(input: string | Uint8Array): DecodedSource {
  if (typeof input === "string") return { text: input, invalidSequences: 0 };
  try {
    return { text: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(input), invalidSequences: 0 };
  } catch {
    const text = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(input);
    let count = 0;
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0xfffd) count++;
    return { text, invalidSequences: count };
  }
}

export class SourceFile {
  readonly text: string;
  readonly lines: readonly PhysicalLine[];
  readonly bomLength: number;

  constructor(text: string) {
    this.text = text;
    this.bomLength = text.charCodeAt(0) === 0xfeff ? 1 : 0;
    const lines: PhysicalLine[] = [];
    let pos = 0;
    while (pos < text.length) {
      const nl = text.indexOf("\n", pos);
      const end = nl < 0 ? text.length : nl + 1;
      let contentEnd = end;
      while (contentEnd > pos && (text.charCodeAt(contentEnd - 1) === 0x0a || text.charCodeAt(contentEnd - 1) === 0x0d)) contentEnd--;
      const start = lines.length === 0 ? Math.min(this.bomLength, contentEnd) : pos;
      lines.push({ index: lines.length, start, contentEnd, end, byteLength: utf8Length(text, pos, end), hasNewline: nl >= 0 });
      pos = end;
    }
    this.lines = lines;
  }

  /** The content of a line without its line ending (and without a BOM). */
  content(line: PhysicalLine): string {
    return this.text.slice(line.start, line.contentEnd);
  }

  /** The position of a text offset. */
  positionAt(offset: number): Position {
    const lines = this.lines;
    let lo = 0;
    let hi = lines.length - 1;
    if (hi < 0) return { line: 1, column: 1 };
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (mid === 0 || (lines[mid]?.start ?? Number.POSITIVE_INFINITY) <= offset) lo = mid;
      else hi = mid - 1;
    }
    const line = lines[lo];
    if (line === undefined) return { line: 1, column: 1 };
    return { line: lo + 1, column: Math.max(1, offset - line.start + 1) };
  }

  /** A range over text offsets `[start, end)`. */
  rangeOf(start: number, end: number): Range {
    const s = this.positionAt(start);
    if (end <= start) return { start: s, end: s };
    const last = this.positionAt(end - 1);
    return { start: s, end: { line: last.line, column: last.column + 1 } };
  }

  /** The range of a whole line's content. */
  lineRange(line: PhysicalLine): Range {
    const s = this.positionAt(line.start);
    return { start: s, end: { line: s.line, column: s.column + (line.contentEnd - line.start) } };
  }
}

/** UTF-8 byte length of `s[from, to)`; a lone surrogate counts as the 3 bytes of U+FFFD. */
export function utf8Length(s: string, from = 0, to = s.length): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < to) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * A logical line: pieces of physical lines joined by continuation. Offsets in the joined text map back
 * to the source through the pieces.
 */
export class LogicalLine {
  private readonly pieces: { logicalStart: number; sourceStart: number; length: number }[] = [];
  private joined = "";

  /** `origin`: where the line starts in the source, used while no piece has been appended. */
  constructor(
    private readonly source: SourceFile,
    private readonly origin: number,
  ) {}

  append(sourceStart: number, sourceEnd: number): void {
    if (sourceEnd <= sourceStart) return;
    this.pieces.push({ logicalStart: this.joined.length, sourceStart, length: sourceEnd - sourceStart });
    this.joined += this.source.text.slice(sourceStart, sourceEnd);
  }

  get text(): string {
    return this.joined;
  }

  /** The source offset of a logical offset (`text.length` maps to just after the last piece). */
  sourceOffset(offset: number): number {
    const pieces = this.pieces;
    if (pieces.length === 0) return this.origin;
    let lo = 0;
    let hi = pieces.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((pieces[mid]?.logicalStart ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    const p = pieces[lo];
    if (p === undefined) return 0;
    return p.sourceStart + Math.min(offset - p.logicalStart, p.length);
  }

  /** The source range of logical offsets `[start, end)`. */
  rangeOf(start: number, end: number): Range {
    if (end <= start) {
      const s = this.source.positionAt(this.sourceOffset(start));
      return { start: s, end: s };
    }
    const s = this.source.positionAt(this.sourceOffset(start));
    const last = this.source.positionAt(this.sourceOffset(end - 1));
    return { start: s, end: { line: last.line, column: last.column + 1 } };
  }
}
