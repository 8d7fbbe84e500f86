import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { loadDockerignore } from "../../base/dockerignore/index.ts";
import { htkError, renderError } from "../../base/errors/index.ts";
import { formatBuildErrorText, formatChecksJson, formatChecksText, runChecks } from "../../frontend-dockerfile/checks/index.ts";
import {
  dumpDockerfile,
  formatOutline,
  formatTargets,
  listTargets,
  outlineDockerfile,
  parseDockerfile,
  renderDiagnostic,
  type Diagnostic,
} from "../../frontend-dockerfile/index.ts";
import { parseOptions } from "../options.ts";
import { commandGroup, type Subcommand } from "../command-group.ts";
import type { Command, CommandIo } from "../types.ts";

/**
 * `hatake dockerfile SUBCOMMAND`: tools over the Dockerfile frontend. Each subcommand is one entry of
 * `subcommands` (parse today; outline, targets and check belong here too).
 */
const parse: Subcommand = {
  name: "parse",
  summary: "Parse a Dockerfile and print its syntax tree",
  usage: `Usage: hatake dockerfile parse [--dump | --json] FILE

Parses FILE ("-" for standard input) with BuildKit's parser rules and prints the tree:
  --dump   BuildKit's parser dump, one (instruction "arg" ...) line per instruction (the default)
  --json   the syntax tree as JSON, with source ranges
Warnings go to standard error. A file the parser rejects prints the error with its
location and ID to standard error and exits 1.`,
  async run(args, io) {
    const { values, positionals } = parseOptions("dockerfile parse", args, { dump: { type: "boolean" }, json: { type: "boolean" } });
    const [file, ...extra] = positionals;
    if (file === undefined || extra.length > 0) {
      throw htkError("HTK-CLI-0002", { command: "dockerfile parse", detail: file === undefined ? "a Dockerfile path is required" : `one Dockerfile path is expected, got ${positionals.length}` });
    }
    if (values.dump === true && values.json === true) {
      throw htkError("HTK-CLI-0002", { command: "dockerfile parse", detail: "--dump and --json cannot be used together" });
    }
    const bytes = await readDockerfile(file, io);
    const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
    const name = file === "-" ? "<stdin>" : file;
    const { result, diagnostics } = parseDockerfile(bytes, { fileName: name });
    writeDiagnostics(io, diagnostics, text, name);
    if (result === undefined) return 1;
    io.stdout.write(values.json === true ? `${JSON.stringify(result, null, 2)}\n` : `${dumpDockerfile(result)}\n`);
    return 0;
  },
};

const check: Subcommand = {
  name: "check",
  summary: "Run BuildKit's build checks on a Dockerfile",
  usage: `Usage: hatake dockerfile check [--format text|json] [--build-arg NAME=VALUE]... [--context DIR] FILE

Runs BuildKit's build checks (lint rules) on FILE ("-" for standard input) without building,
like "docker build --check": StageNameCasing, UndefinedVar, JSONArgsRecommended and the rest,
configured by the "# check=skip=...;error=true" directive or --build-arg BUILDKIT_DOCKERFILE_CHECK=...
  --format text   docker's report: each warning with its rule, URL and source lines (the default)
  --format json   BuildKit's lint result JSON (as --call=check,format=json prints it)
  --build-arg     a build argument (repeatable); NAME alone takes the value from the environment
  --context DIR   the build context whose .dockerignore CopyIgnoredFile uses (default: FILE's directory)
Exits 1 when a check reports something or fails the build (error=true), as docker does.`,
  async run(args, io) {
    const { values, positionals } = parseOptions("dockerfile check", args, {
      format: { type: "string", default: "text" },
      "build-arg": { type: "string", multiple: true },
      context: { type: "string" },
    });
    const [file, ...extra] = positionals;
    if (file === undefined || extra.length > 0) {
      throw htkError("HTK-CLI-0002", { command: "dockerfile check", detail: file === undefined ? "a Dockerfile path is required" : `one Dockerfile path is expected, got ${positionals.length}` });
    }
    if (values.format !== "text" && values.format !== "json") {
      throw htkError("HTK-CLI-0002", { command: "dockerfile check", detail: `--format must be text or json, not ${JSON.stringify(values.format)}` });
    }
    const buildArgs: Record<string, string> = {};
    for (const kv of values["build-arg"] ?? []) {
      const eq = kv.indexOf("=");
      const name = eq < 0 ? kv : kv.slice(0, eq);
      // docker: a name without "=" takes its value from the environment, and is dropped when unset.
      const value = eq < 0 ? io.env[name] : kv.slice(eq + 1);
      if (value !== undefined) buildArgs[name] = value;
    }
    const bytes = await readDockerfile(file, io);
    const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
    const name = file === "-" ? "<stdin>" : file;
    const { result, diagnostics } = parseDockerfile(bytes, { fileName: name });
    if (result === undefined) {
      writeDiagnostics(io, diagnostics.filter((d) => d.severity === "error"), text, name);
      return 1;
    }
    const contextDir = values.context ?? (file === "-" ? "." : dirname(file));
    const ignore = await loadDockerignore(contextDir, { cwd: io.cwd, ...(file === "-" ? {} : { dockerfile: file }) });
    const checks = runChecks(result, { buildArgs, dockerignore: ignore.matcher });
    if (checks.configError !== undefined) {
      writeDiagnostics(io, [checks.configError], text, name);
      return 1;
    }
    const source = { fileName: file === "-" ? "Dockerfile" : basename(file), text };
    io.stdout.write(values.format === "json" ? `${formatChecksJson(checks, source)}\n` : formatChecksText(checks, source));
    const error = formatBuildErrorText(checks, source);
    if (error !== undefined) io.stderr.write(values.format === "json" ? `${error.split("\n")[0] ?? ""}\n` : error);
    if (checks.stopped !== undefined && values.format !== "json") {
      // BuildKit's layout above; the project's diagnostic (ID and next step) below it.
      const stop = htkError("HTK-DOCKERFILE-0303", { line: checks.stopped.range.start.line, detail: checks.stopped.message });
      io.stderr.write(`${renderError(stop)}\n`);
    }
    return checks.findings.length > 0 || error !== undefined ? 1 : 0;
  },
};

/** `--build-arg NAME=VALUE` values; NAME alone takes the value from the environment (as docker). */
function buildArgsOf(list: readonly string[] | undefined, io: CommandIo): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const eq = kv.indexOf("=");
    const name = eq < 0 ? kv : kv.slice(0, eq);
    const value = eq < 0 ? io.env[name] : kv.slice(eq + 1);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function formatOf(command: string, value: string | undefined): "text" | "json" {
  if (value === undefined || value === "text" || value === "json") return value ?? "text";
  throw htkError("HTK-CLI-0002", { command, detail: `--format must be text or json, not ${JSON.stringify(value)}` });
}

const outline: Subcommand = {
  name: "outline",
  summary: "Show the build args, secrets and SSH a target uses",
  usage: `Usage: hatake dockerfile outline [--format text|json] [--target STAGE] [--build-arg NAME=VALUE]... FILE

Like "docker buildx build --call=outline": the build arguments the target stage uses (with
their defaults and the descriptions from "# NAME description" comments above each ARG), the
secrets and SSH agents its RUN --mount flags ask for, and the stage's description.
  --format json   BuildKit's outline JSON
Base images are not resolved: their own ONBUILD triggers are not part of the outline.`,
  async run(args, io) {
    const command = "dockerfile outline";
    const { values, positionals } = parseOptions(command, args, {
      format: { type: "string" },
      target: { type: "string" },
      "build-arg": { type: "string", multiple: true },
    });
    const format = formatOf(command, values.format);
    const [file, ...extra] = positionals;
    if (file === undefined || extra.length > 0) {
      throw htkError("HTK-CLI-0002", { command, detail: file === undefined ? "a Dockerfile path is required" : `one Dockerfile path is expected, got ${positionals.length}` });
    }
    const bytes = await readDockerfile(file, io);
    const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
    const name = file === "-" ? "<stdin>" : file;
    const { result, diagnostics } = await outlineDockerfile(bytes, {
      fileName: name,
      buildArgs: buildArgsOf(values["build-arg"], io),
      ...(values.target === undefined ? {} : { target: values.target }),
    });
    writeDiagnostics(io, diagnostics, text, name);
    if (result === undefined) return 1;
    io.stdout.write(format === "json" ? `${JSON.stringify(result, null, 2)}\n` : formatOutline(result));
    return 0;
  },
};

const targets: Subcommand = {
  name: "targets",
  summary: "List the stages a build can target",
  usage: `Usage: hatake dockerfile targets [--format text|json] FILE

Like "docker buildx build --call=targets": every stage with its description (the comment
"# NAME description" above its FROM); the last one is the default target.
  --format json   BuildKit's targets JSON (name, description, base, platform, location)`,
  async run(args, io) {
    const command = "dockerfile targets";
    const { values, positionals } = parseOptions(command, args, { format: { type: "string" } });
    const format = formatOf(command, values.format);
    const [file, ...extra] = positionals;
    if (file === undefined || extra.length > 0) {
      throw htkError("HTK-CLI-0002", { command, detail: file === undefined ? "a Dockerfile path is required" : `one Dockerfile path is expected, got ${positionals.length}` });
    }
    const bytes = await readDockerfile(file, io);
    const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
    const name = file === "-" ? "<stdin>" : file;
    const { result, diagnostics } = listTargets(bytes, name);
    writeDiagnostics(io, diagnostics, text, name);
    if (result === undefined) return 1;
    io.stdout.write(format === "json" ? `${JSON.stringify(result, null, 2)}\n` : formatTargets(result));
    return 0;
  },
};

const subcommands: readonly Subcommand[] = [parse, check, outline, targets];

export const dockerfileCommand: Command = commandGroup({
  name: "dockerfile",
  summary: "Inspect Dockerfiles (parse, check, outline, targets)",
  description: "Inspects Dockerfiles without building them.",
  subcommands,
});

async function readDockerfile(file: string, io: CommandIo): Promise<Uint8Array> {
  try {
    if (file === "-") {
      const chunks: Buffer[] = [];
      for await (const c of io.stdin) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
      return Buffer.concat(chunks);
    }
    return await readFile(resolve(io.cwd, file));
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw htkError("HTK-DOCKERFILE-0013", { path: file, detail, cwd: io.cwd }, { cause: err });
  }
}

function writeDiagnostics(io: CommandIo, diagnostics: readonly Diagnostic[], text: string, name: string): void {
  for (const d of diagnostics) io.stderr.write(`${renderDiagnostic(d, text, name)}\n`);
}
