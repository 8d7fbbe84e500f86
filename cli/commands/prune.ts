import { createInterface } from "node:readline";
import { resolve } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { humanSize, parseRamInBytes } from "../../base/units.ts";
import { pruneCache } from "../../engine/build/cache-usage.ts";
import { parseOptions } from "../options.ts";
import type { Command, CommandIo } from "../types.ts";
import { parseCacheFilters, recordTable, recordVerbose, table } from "./du.ts";

const HELP = `Usage: hatake prune --data-root DIR [OPTIONS]

Removes build cache from an in-process builder's state folder, as docker buildx prune.

Options:
      --data-root string     State folder that hatake build --data-root used (required)
  -a, --all                  Also remove cache mounts (RUN --mount=type=cache) and internal records
      --filter filter        Provide filter values: until=DURATION (keep what was used since),
                             type=TYPE (only that type, cache mounts included), id=ID
      --keep-storage bytes   Amount of disk space to keep for cache (least recently used goes first)
  -f, --force                Do not prompt for confirmation
      --verbose              Provide a more verbose output

Without -a, step results and build-context records are removed and cache mounts are kept. A build
running on the folder holds it: prune waits until that build ends. A removed step runs again on
the next build.
`;

export const pruneCommand: Command = {
  name: "prune",
  summary: "Remove build cache",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseOptions("prune", args, {
      "data-root": { type: "string" },
      all: { type: "boolean", short: "a" },
      filter: { type: "string", multiple: true },
      "keep-storage": { type: "string" },
      force: { type: "boolean", short: "f" },
      verbose: { type: "boolean" },
    });
    if (positionals.length > 0) throw htkError("HTK-CLI-0002", { command: "prune", detail: `it takes no arguments (got ${positionals.join(" ")})` });
    if (values["data-root"] === undefined) throw htkError("HTK-CLI-0002", { command: "prune", detail: "--data-root DIR is required" });
    const filters = parseCacheFilters(values.filter ?? []);
    let keepStorage: number | undefined;
    if (values["keep-storage"] !== undefined) {
      const size = parseRamInBytes(values["keep-storage"]);
      if (!size.ok) throw htkError("HTK-CACHE-0100", { value: values["keep-storage"], option: "--keep-storage" });
      keepStorage = size.value;
    }
    const dataRoot = resolve(io.cwd, values["data-root"]);
    const all = values.all === true;
    if (values.force !== true) {
      io.stdout.write(`WARNING! This will remove all ${all ? "" : "dangling "}build cache. Are you sure you want to continue? [y/N] `);
      const answer = await firstLine(io);
      if (!/^y(es)?$/i.test(answer.trim())) throw htkError("HTK-CACHE-0102", { root: dataRoot, answer: answer.trim() === "" ? "no answer" : JSON.stringify(answer.trim()) });
    }
    const now = new Date();
    const result = await pruneCache(dataRoot, {
      all,
      types: filters.types,
      ids: filters.ids,
      ...(filters.untilMs === undefined ? {} : { untilMs: filters.untilMs }),
      ...(keepStorage === undefined ? {} : { keepStorage }),
      signal: io.signal,
      notice: (line) => io.stderr.write(`${line}\n`),
      now,
    });
    if (values.verbose === true) io.stdout.write(result.removed.map((r) => recordVerbose(r, now)).join(""));
    else if (result.removed.length > 0) io.stdout.write(recordTable(result.removed, now));
    io.stdout.write(table([["Total:", humanSize(result.total)]]));
    return 0;
  },
};

/** The answer to the confirmation question: the first line of stdin ("" at end of input). */
async function firstLine(io: CommandIo): Promise<string> {
  const rl = createInterface({ input: io.stdin, terminal: false });
  try {
    for await (const line of rl) return line;
    return "";
  } finally {
    rl.close();
  }
}
