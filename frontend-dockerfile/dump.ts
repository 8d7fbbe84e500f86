import { assertNever } from "./assert-never.ts";
import { goQuote, trimSpaceBounds } from "./chars.ts";
import type { Instruction, InstructionArguments, ParsedDockerfile, Word } from "./types.ts";

/**
 * BuildKit's `Node.Dump` format, used by its parser test data (`testfiles/<case>/result`): one
 * `(name ["--flag" …] "arg" …)` line per instruction, ONBUILD nesting its trigger. Returned without a
 * final newline (the `result` files hold the dump plus one `\n`).
 */
export function dumpDockerfile(file: ParsedDockerfile): string {
  return file.instructions.map((i) => `(${dumpInstruction(i)})`).join("\n");
}

/** One instruction without the outer parentheses. Iterative, so ONBUILD chains of any depth are fine. */
export function dumpInstruction(ins: Instruction): string {
  const heads: string[] = [];
  let cur: Instruction | undefined = ins;
  let tail = "";
  while (cur !== undefined) {
    const head = headOf(cur);
    const args: InstructionArguments = cur.args;
    if (args.kind === "onbuild") {
      heads.push(head);
      cur = args.trigger;
      continue;
    }
    tail = goTrim(head + argWords(args).map((w) => ` ${goQuote(w.value)}`).join(""));
    cur = undefined;
  }
  for (let k = heads.length - 1; k >= 0; k--) tail = goTrim(`${heads[k] ?? ""} (${tail})`);
  return tail;
}

function headOf(ins: Instruction): string {
  let s = ins.keyword;
  if (ins.flags.length > 0) s += ` [${ins.flags.map((f) => goQuote(f.value)).join(" ")}]`;
  return s;
}

/** The argument words in BuildKit's node order. */
export function argWords(args: Exclude<InstructionArguments, { kind: "onbuild" }>): readonly Word[] {
  switch (args.kind) {
    case "none":
      return [];
    case "exec":
    case "list":
      return args.words;
    case "shell":
    case "string":
      return [args.text];
    case "key-value":
      return args.pairs.flatMap((p) => [p.key, p.value]);
    case "healthcheck":
      return [args.type, ...(args.command.kind === "none" ? [] : argWords(args.command))];
    default:
      return assertNever(args);
  }
}

/** Go `strings.TrimSpace`, which BuildKit applies to every dumped node. */
function goTrim(s: string): string {
  const [a, b] = trimSpaceBounds(s);
  return s.slice(a, b);
}
