import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { create } from "@bufbuild/protobuf";
import type { BuildSummary } from "../../solver/index.ts";
import { HistoryRecordSchema, type HistoryRecord, type SolveRequest } from "../../wire/index.ts";

/**
 * What `buildx history` shows beside the solver's build records: per build ref, the name (the
 * context folder, and the Dockerfile when it is not "Dockerfile"), the frontend attributes and the
 * exporter response. Kept under `<dataRoot>/buildx/history/<ref>.json`; the records themselves (steps,
 * logs) stay the solver's (Builds.records). Secrets are never part of it: the request's frontend
 * attributes carry build args and labels only.
 */
export interface HistoryEntry {
  readonly ref: string;
  readonly name: string;
  readonly status: "completed" | "error" | "canceled";
  readonly createdAt: string;
  readonly completedAt: string;
  readonly error?: string;
  readonly frontendAttrs: Readonly<Record<string, string>>;
  readonly exporterResponse: Readonly<Record<string, string>>;
}

export class BuildHistory {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async save(req: SolveRequest, fileName: string, r: { status: HistoryEntry["status"]; createdAt: string; error?: string; exporterResponse?: Readonly<Record<string, string>> }): Promise<void> {
    const context = req.clientAttrs["context.dir"] ?? "";
    const entry: HistoryEntry = {
      ref: req.ref,
      name: `${basename(context) || "."}${fileName === "Dockerfile" ? "" : `/${fileName}`}`,
      status: r.status,
      createdAt: r.createdAt,
      completedAt: new Date().toISOString(),
      ...(r.error === undefined ? {} : { error: r.error }),
      // The context as the user named it (".", a path), for history inspect's "Context:".
      frontendAttrs: { ...req.frontendAttrs, context: req.clientAttrs["context.arg"] ?? "." },
      exporterResponse: r.exporterResponse ?? {},
    };
    await mkdir(this.#dir, { recursive: true });
    const file = this.#file(req.ref);
    await writeFile(`${file}.tmp`, JSON.stringify(entry));
    await rename(`${file}.tmp`, file);
  }

  async get(ref: string): Promise<HistoryEntry | undefined> {
    try {
      return JSON.parse(await readFile(this.#file(ref), "utf8")) as HistoryEntry;
    } catch {
      return undefined;
    }
  }

  async remove(ref: string): Promise<void> {
    await rm(this.#file(ref), { force: true });
  }

  /** A record as the wire shows it, from the solver's summary and this entry (when the build came through here). */
  async toWire(s: BuildSummary): Promise<HistoryRecord> {
    const e = await this.get(s.id);
    const cached = s.counts["cached"] ?? 0;
    const done = (s.counts["executed"] ?? 0) + (s.counts["shared"] ?? 0) + cached;
    const total = Object.values(s.counts).reduce((n, c) => n + (c ?? 0), 0) - (s.counts["skipped"] ?? 0);
    return create(HistoryRecordSchema, {
      ref: s.id,
      name: e?.name ?? s.target,
      status: s.status === "failed" ? "error" : s.status,
      createdAt: s.started,
      completedAt: s.completed ?? "",
      numTotalSteps: total,
      numCompletedSteps: done,
      numCachedSteps: cached,
      error: s.error ?? e?.error ?? "",
      frontendAttrs: e?.frontendAttrs ?? {},
      exporterResponse: e?.exporterResponse ?? {},
      target: s.target,
    });
  }

  #file(ref: string): string {
    return join(this.#dir, `${ref.replace(/[^A-Za-z0-9_.-]/g, "_")}.json`);
  }
}
