import { parseOptions } from "../options.ts";
import { productVersion } from "../version-info.ts";
import type { Command } from "../types.ts";

export const versionCommand: Command = {
  name: "version",
  summary: "Show the version",
  help: "Usage: hatake version [--format json]\n\nPrints the version of hatake (the same as hatake --version).",
  async run(args, io) {
    const { values } = parseOptions("version", args, { format: { type: "string" } });
    if (values.format === "json") io.stdout.write(`${JSON.stringify({ version: productVersion(), node: process.version })}\n`);
    else io.stdout.write(`hatake version ${productVersion()}\n`);
    return 0;
  },
};
