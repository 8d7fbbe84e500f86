import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { didYouMean, htkError } from "../../base/errors/index.ts";
import { loadDockerignore } from "../../base/dockerignore/index.ts";
import { compileDockerfile, renderDiagnostic } from "../../frontend-dockerfile/index.ts";
import { decodeDefinition, dumpDot, dumpJson, type Definition } from "../../llb/index.ts";
import { parseOptions } from "../options.ts";
import { commandGroup, type Subcommand } from "../command-group.ts";
import type { Command, CommandIo } from "../types.ts";

/**
 * `hatake llb SUBCOMMAND`: tools over the LLB build graph. Each subcommand is one entry of
 * `subcommands` (dump today).
 */
const FORMATS = ["json", "dot"] as const;
type Format = (typeof FORMATS)[number];

/** Where a definition comes from: a marshalled definition, or a Dockerfile compiled on the spot. */
type DefinitionInput =
  | { readonly kind: "definition-file"; readonly path: string }
  | { readonly kind: "dockerfile"; readonly path: string; readonly target?: string; readonly buildArgs: Readonly<Record<string, string>> };

const dump: Subcommand = {
  name: "dump",
  summary: "Print a build graph as JSON or Graphviz DOT",
  usage: `Usage: hatake llb dump [--format json|dot] FILE
       hatake llb dump [--format json|dot] --dockerfile DOCKERFILE [--target STAGE] [--build-arg NAME=VALUE]...

Reads FILE ("-" for standard input), a marshalled LLB definition (protobuf bytes), checks it and
prints it; or compiles DOCKERFILE (its .dockerignore read as for a build with the Dockerfile's
directory as context) and prints the definition of the target stage. Base images are not
resolved: they appear unpinned, without their config.
  --format json   every op with its digest, inputs, outputs and fields (the default)
  --format dot    a Graphviz graph: render it with "dot -Tsvg"`,
  async run(args, io) {
    const command = "llb dump";
    const { values, positionals } = parseOptions(command, args, {
      format: { type: "string", short: "f" },
      dockerfile: { type: "string" },
      target: { type: "string" },
      "build-arg": { type: "string", multiple: true },
    });
    const format = parseFormat(command, values.format);
    const [file, ...extra] = positionals;
    let input: DefinitionInput;
    if (values.dockerfile !== undefined) {
      if (positionals.length > 0) throw htkError("HTK-CLI-0002", { command, detail: "--dockerfile and a definition file cannot be used together" });
      const buildArgs: Record<string, string> = {};
      for (const kv of values["build-arg"] ?? []) {
        const eq = kv.indexOf("=");
        const value = eq < 0 ? io.env[kv] : kv.slice(eq + 1);
        if (value !== undefined) buildArgs[eq < 0 ? kv : kv.slice(0, eq)] = value;
      }
      input = { kind: "dockerfile", path: values.dockerfile, buildArgs, ...(values.target === undefined ? {} : { target: values.target }) };
    } else {
      if (file === undefined || extra.length > 0) {
        const detail = file === undefined ? "a definition file is required" : `one definition file is expected, got ${positionals.length}`;
        throw htkError("HTK-CLI-0002", { command, detail });
      }
      input = { kind: "definition-file", path: file };
    }
    const def = await loadDefinition(command, input, io);
    if (def === undefined) return 1;
    io.stdout.write(format === "json" ? dumpJson(def) : dumpDot(def));
    return 0;
  },
};

function parseFormat(command: string, value: string | undefined): Format {
  if (value === undefined) return "json";
  const found = FORMATS.find((f) => f === value);
  if (found !== undefined) return found;
  const guess = didYouMean(value, FORMATS);
  const hint = guess === undefined ? "" : ` (did you mean "${guess}"?)`;
  throw htkError("HTK-CLI-0002", { command, detail: `the format "${value}" is not one of ${FORMATS.join(", ")}${hint}` });
}

/** Undefined when a Dockerfile did not compile (its diagnostics are on standard error). */
async function loadDefinition(command: string, input: DefinitionInput, io: CommandIo): Promise<Definition | undefined> {
  switch (input.kind) {
    case "definition-file": {
      const bytes = await readInput(command, input.path, io);
      const result = decodeDefinition(bytes);
      if (!result.ok) {
        // TODO(llb): a dedicated HTK-LLB diagnostic for an invalid definition once the LLB catalogue
        // has one; until then it is reported as an unreadable argument, with the LLB code kept.
        throw htkError("HTK-CLI-0002", {
          command,
          detail: `"${input.path}" is not a valid LLB definition (${result.error.code}): ${result.error.message}`,
        });
      }
      return result.value;
    }
    case "dockerfile": {
      const bytes = await readInput(command, input.path, io);
      const ignore = input.path === "-" ? undefined : await loadDockerignore(dirname(resolve(io.cwd, input.path)), { cwd: io.cwd, dockerfile: input.path });
      const name = input.path === "-" ? "<stdin>" : input.path;
      const { result, diagnostics } = await compileDockerfile(bytes, {
        fileName: name,
        buildArgs: input.buildArgs,
        ...(input.target === undefined ? {} : { target: input.target }),
        ...(ignore === undefined ? {} : { dockerignorePatterns: ignore.patterns }),
      });
      const text = new TextDecoder().decode(bytes);
      for (const d of diagnostics) io.stderr.write(`${renderDiagnostic(d, text, name)}\n`);
      return result?.definition;
    }
    default:
      return assertNeverInput(input);
  }
}

function assertNeverInput(x: never): never {
  throw new Error(`unexpected definition input ${JSON.stringify(x)}`);
}

async function readInput(command: string, path: string, io: CommandIo): Promise<Uint8Array> {
  try {
    if (path === "-") {
      const chunks: Buffer[] = [];
      for await (const chunk of io.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
      return Buffer.concat(chunks);
    }
    return await readFile(resolve(io.cwd, path));
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw htkError("HTK-CLI-0002", { command, detail: `cannot read "${path}": ${reason}` }, { cause: err });
  }
}

const subcommands: readonly Subcommand[] = [dump];

export const llbCommand: Command = commandGroup({
  name: "llb",
  summary: "Inspect LLB build graphs (dump)",
  description: "Inspects LLB build graphs (the builder's intermediate representation).",
  subcommands,
});
