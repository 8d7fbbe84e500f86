import { productVersion } from "../version-info.ts";
import type { Command } from "../types.ts";

export const versionCommand: Command = {
  name: "version",
  summary: "Show the version",
  help: "Usage: hatake version\n\nPrints the version of hatake (the same as hatake --version).",
  async run(_args, io) {
    io.stdout.write(`hatake version ${productVersion()}\n`);
    return 0;
  },
};
