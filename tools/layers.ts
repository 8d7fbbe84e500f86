import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

/**
 * Who may import whom: the architecture, as data. A top-level folder may import its own files and the
 * folders listed for it; nothing else of ours. Checked in CI by `npm run check:layers`.
 *
 * `base` is the foundation every component shares (error model, observability, .dockerignore
 * semantics); `llb` stays pure and imports nothing of ours, not even `base`. Clients of the engine
 * (`buildx-plugin`, `desktop`, `conformance`) reach it only over the wire and share only `wire`
 * (plain type definitions of wire messages). `conformance` also runs the offline parser and
 * shell-lexer suites in-process, hence its `frontend-dockerfile` entry.
 */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  base: [],
  llb: [],
  wire: [],
  "frontend-dockerfile": ["llb", "base"],
  cache: ["llb", "base"],
  solver: ["llb", "cache", "base"],
  engine: ["llb", "frontend-dockerfile", "cache", "solver", "base", "wire"],
  "buildx-plugin": ["base", "wire"],
  desktop: ["wire"],
  // testing: the flows runner starts the local registries and the busybox fixture (registry-fixtures.ts).
  conformance: ["base", "wire", "frontend-dockerfile", "testing"],
  cli: ["llb", "frontend-dockerfile", "cache", "solver", "engine", "buildx-plugin", "base", "wire"],
  // Test and measurement tooling may reach everything; products may not reach them.
  testing: ["base"],
  bench: ["llb", "frontend-dockerfile", "cache", "solver", "engine", "base", "wire", "testing"],
  tools: ["llb", "frontend-dockerfile", "cache", "solver", "engine", "base", "wire", "cli"],
};

/** Test files may also use the shared test harness. */
const TEST_ONLY = ["testing"];
const SOURCE = /\.(ts|tsx|mts|cts)$/;
const SKIP_DIRS = new Set(["node_modules", "dist", ".git", ".cache", "gen"]);

export interface Violation {
  readonly kind: "forbidden-import" | "unknown-folder" | "cycle";
  readonly file: string;
  readonly message: string;
}

interface ImportRef {
  readonly specifier: string;
  readonly typeOnly: boolean;
  readonly line: number;
}

/** The import specifiers of one file: static, re-exports, dynamic `import()` and `import("x")` types. */
export function importsOf(fileName: string, text: string): ImportRef[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false);
  const out: ImportRef[] = [];
  const lineOf = (node: ts.Node): number => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      out.push({ specifier: node.moduleSpecifier.text, typeOnly, line: lineOf(node) });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly, line: lineOf(node) });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg !== undefined && ts.isStringLiteralLike(arg)) out.push({ specifier: arg.text, typeOnly: false, line: lineOf(node) });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      out.push({ specifier: node.argument.literal.text, typeOnly: true, line: lineOf(node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function listSources(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      if (SKIP_DIRS.has(name)) continue;
      const full = join(dir, name);
      const st = statSync(full);
      if (st.isDirectory()) walk(full);
      else if (SOURCE.test(name) && !name.endsWith(".d.ts")) out.push(full);
    }
  };
  walk(root);
  return out;
}

const topFolder = (root: string, file: string): string | undefined => {
  const rel = relative(root, file).split(sep);
  return rel.length > 1 ? rel[0] : undefined;
};

/** Test files, and the shared test code of a component's `e2e/` folder (e.g. engine/e2e/harness.ts). */
const isTestFile = (file: string): boolean => /\.(e2e\.)?test\.tsx?$/.test(file) || /(^|\/)e2e\//.test(file);

/** Checks every source file under `root` against `layers`; returns all violations, sorted. */
export function checkLayers(root: string, layers: Readonly<Record<string, readonly string[]>> = LAYERS): Violation[] {
  const violations: Violation[] = [];
  const files = listSources(root);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const from = topFolder(root, file);
    const relFile = relative(root, file);
    const edges: string[] = [];
    graph.set(file, edges);
    if (from === undefined) continue; // root config files (vitest.config.ts) belong to no layer
    const allowed = layers[from];
    if (allowed === undefined) {
      violations.push({ kind: "unknown-folder", file: relFile, message: `${relFile}: folder "${from}" has no entry in the layer table (tools/layers.ts)` });
      continue;
    }
    const mayUse = new Set([from, ...allowed, ...(isTestFile(file) ? TEST_ONLY : [])]);
    for (const ref of importsOf(file, readFileSync(file, "utf8"))) {
      if (!ref.specifier.startsWith(".")) continue;
      const target = resolve(dirname(file), ref.specifier);
      const to = topFolder(root, target);
      if (to !== undefined && !mayUse.has(to)) {
        violations.push({
          kind: "forbidden-import",
          file: relFile,
          message: `${relFile}:${ref.line}: "${from}" may not import "${to}" (${ref.specifier}); ${from} may import: ${[...allowed].join(", ") || "nothing of ours"}`,
        });
      }
      if (!ref.typeOnly) edges.push(target);
    }
  }
  for (const cycle of findCycles(graph)) {
    const names = cycle.map((f) => relative(root, f));
    violations.push({ kind: "cycle", file: names[0] ?? "", message: `import cycle: ${[...names, names[0]].join(" → ")}` });
  }
  return violations.sort((a, b) => a.message.localeCompare(b.message));
}

/**
 * Value-import cycles between files (Tarjan's strongly connected components). Type-only imports are
 * erased at compile time, so they cannot create an initialisation-order cycle and are left out.
 */
function findCycles(graph: Map<string, string[]>): string[][] {
  const resolveTarget = (t: string): string | undefined =>
    graph.has(t) ? t : [".ts", ".tsx", "/index.ts"].map((ext) => t + ext).find((c) => graph.has(c));
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const strong = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const raw of graph.get(v) ?? []) {
      const w = resolveTarget(raw);
      if (w === undefined) continue;
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, idx.get(w) ?? 0));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) strong(v);
  return cycles;
}
