import { readFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { compile, readDockerignore, type DockerignoreMatcher } from "./patterns.ts";

export interface LoadedDockerignore {
  /** The file the patterns came from, or undefined when there is none. */
  readonly file: string | undefined;
  readonly patterns: readonly string[];
  readonly matcher: DockerignoreMatcher;
}

/**
 * Finds and compiles the ignore file BuildKit would use for a build:
 * `<Dockerfile>.dockerignore` next to the Dockerfile (e.g. `foo/Dockerfile.dev.dockerignore` for
 * `-f foo/Dockerfile.dev`, also `Dockerfile.dockerignore` for the default name) takes precedence over
 * `<context>/.dockerignore`. An existing Dockerfile-specific file wins even when it is empty, so it can
 * switch the context file off for that Dockerfile. A missing or unreadable file means "no patterns",
 * as in BuildKit, which ignores the read error.
 *
 * `dockerfile` is resolved against `cwd` like `docker build -f`; when omitted it is `<context>/Dockerfile`.
 */
export async function loadDockerignore(
  contextDir: string,
  options: { dockerfile?: string; cwd?: string } = {},
): Promise<LoadedDockerignore> {
  const cwd = options.cwd ?? process.cwd();
  const context = resolve(cwd, contextDir);
  const dockerfile = options.dockerfile === undefined ? join(context, "Dockerfile") : resolve(cwd, options.dockerfile);
  const candidates = [join(dirname(dockerfile), `${basename(dockerfile)}.dockerignore`), join(context, ".dockerignore")];
  for (const file of candidates) {
    const text = await readIfFile(file);
    if (text === undefined) continue;
    const patterns = readDockerignore(text);
    return { file, patterns, matcher: compile(patterns, file) };
  }
  return { file: undefined, patterns: [], matcher: compile([]) };
}

async function readIfFile(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch {
    return undefined;
  }
}
