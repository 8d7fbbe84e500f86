import type { ServerResponse } from "node:http";
import { isCancellation, toHtkError, type HtkError } from "../../base/errors/index.ts";
import { dockerMessage } from "./respond.ts";

/**
 * Docker's progress stream (`pkg/jsonmessage`, written by `pkg/streamformatter`): one JSON object per
 * line, `\r\n` after each, as pull, push, load, import and the classic build answer. The docker CLI
 * prints `status` lines (`id: status`), hides lines with a progress bar unless stdout is a terminal,
 * and stops with the `errorDetail` message (exit 1) when one arrives.
 */

/** `jsonmessage.JSONProgress`: every field omitted when zero, so a status without counts is `{}`. */
export interface JsonProgress {
  readonly current?: number;
  readonly total?: number;
  readonly start?: number;
  readonly hidecounts?: boolean;
  readonly units?: string;
}

/** `jsonmessage.JSONMessage` (the deprecated `progress` and `error` strings are derived when encoding). */
export interface JsonMessage {
  readonly stream?: string;
  readonly status?: string;
  readonly progressDetail?: JsonProgress;
  readonly id?: string;
  readonly from?: string;
  readonly errorDetail?: { readonly code?: number; readonly message: string };
  readonly aux?: unknown;
}

/**
 * The wire form, keys in Go's struct order (stream, status, progressDetail, progress, id, from, …,
 * errorDetail, error, aux), empty fields left out as `omitempty` does, then `\r\n`.
 */
export function encodeMessage(m: JsonMessage): string {
  const o: Record<string, unknown> = {};
  if (m.stream !== undefined && m.stream !== "") o["stream"] = m.stream;
  if (m.status !== undefined && m.status !== "") o["status"] = m.status;
  if (m.progressDetail !== undefined) {
    o["progressDetail"] = compactProgress(m.progressDetail);
    const text = progressString(m.progressDetail);
    if (text !== "") o["progress"] = text;
  }
  if (m.id !== undefined && m.id !== "") o["id"] = m.id;
  if (m.from !== undefined && m.from !== "") o["from"] = m.from;
  if (m.errorDetail !== undefined) {
    o["errorDetail"] = { ...(m.errorDetail.code !== undefined && m.errorDetail.code !== 0 ? { code: m.errorDetail.code } : {}), ...(m.errorDetail.message !== "" ? { message: m.errorDetail.message } : {}) };
    if (m.errorDetail.message !== "") o["error"] = m.errorDetail.message;
  }
  if (m.aux !== undefined) o["aux"] = m.aux;
  return `${JSON.stringify(o)}\r\n`;
}

function compactProgress(p: JsonProgress): JsonProgress {
  return {
    ...(p.current !== undefined && p.current !== 0 ? { current: p.current } : {}),
    ...(p.total !== undefined && p.total !== 0 ? { total: p.total } : {}),
    ...(p.start !== undefined && p.start !== 0 ? { start: p.start } : {}),
    ...(p.hidecounts === true ? { hidecounts: true } : {}),
    ...(p.units !== undefined && p.units !== "" ? { units: p.units } : {}),
  };
}

const SIZE_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/** go-units' `HumanSize`: decimal units, four significant digits ("32.77kB", "2.152MB", "100B"). */
export function humanSize(bytes: number): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < SIZE_UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return `${Number(size.toPrecision(4)).toString()}${SIZE_UNITS[i] ?? ""}`;
}

/**
 * `JSONProgress.String()` as the daemon renders it (no terminal: a 200-column width, so the bar is
 * drawn): `[=====>        ]  1.049MB/2.152MB`. Empty when there is nothing to count.
 */
export function progressString(p: JsonProgress): string {
  const current = p.current ?? 0;
  const total = p.total ?? 0;
  if (current <= 0 && total <= 0) return "";
  if (total <= 0) return p.units === undefined || p.units === "" ? humanSize(current).padStart(8) : `${current} ${p.units}`;
  const percentage = Math.min(50, Math.floor(Math.floor((current / total) * 100) / 2));
  const bar = `[${"=".repeat(percentage)}>${" ".repeat(Math.max(0, 50 - percentage))}] `;
  let numbers = "";
  if (p.hidecounts !== true) {
    if (p.units === undefined || p.units === "") {
      numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
    } else {
      numbers = current > total ? `${current} ${p.units}`.padStart(8) : `${`${current}`.padStart(8)}/${total} ${p.units}`;
    }
  }
  return bar + numbers;
}

/**
 * A progress stream on an HTTP response. Nothing is sent until the first message, so an error before
 * it (an unknown tag, no such image) is still Docker's JSON error with its status code; after it, an
 * error is the stream's last line (`errorDetail`), as Docker's `WriteFlusher` + `FormatError` do.
 */
export class JsonMessageStream {
  readonly #res: ServerResponse;
  #started = false;

  constructor(res: ServerResponse) {
    this.#res = res;
  }

  get started(): boolean {
    return this.#started;
  }

  /** Sends the status line and headers now: from here on, errors go into the stream. */
  begin(): void {
    if (this.#started) return;
    this.#started = true;
    this.#res.writeHead(200, { "Content-Type": "application/json" });
  }

  write(message: JsonMessage): void {
    if (this.#res.destroyed || this.#res.writableEnded) return;
    this.begin();
    this.#res.write(encodeMessage(message));
  }

  /** `{"status": …, "id": …}`: a line the CLI prints as "id: status". */
  status(status: string, id?: string): void {
    this.write({ status, ...(id !== undefined ? { id } : {}) });
  }

  /** A progress update (`progress.Update`): `progressDetail` always present, `{}` without counts. */
  progress(id: string, action: string, detail: JsonProgress = {}): void {
    this.write({ status: action, progressDetail: detail, id });
  }

  /**
   * Ends the stream after a failure: before anything was sent the error is thrown on (the server
   * answers with Docker's JSON error and status); after, it becomes the last line. A cancellation
   * (the client went away) ends quietly.
   */
  fail(err: unknown, operation: string): void {
    if (!this.#started) throw err;
    if (!isCancellation(err)) {
      const e: HtkError = toHtkError(err, { operation });
      this.write({ errorDetail: { message: dockerMessage(e) } });
    }
    this.end();
  }

  end(): void {
    if (this.#res.destroyed || this.#res.writableEnded) return;
    this.begin();
    this.#res.end();
  }
}
