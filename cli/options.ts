import { parseArgs, type ParseArgsConfig } from "node:util";
import { htkError } from "../base/errors/index.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * `util.parseArgs` for a subcommand, strict, with positionals allowed; a parse failure becomes
 * HTK-CLI-0002 naming the command, so every command reports bad options the same way.
 */
export function parseOptions<const O extends Options>(command: string, args: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
  } catch (err) {
    const detail = err instanceof Error ? err.message.replace(/\.$/, "") : String(err);
    throw htkError("HTK-CLI-0002", { command, detail }, { cause: err });
  }
}
