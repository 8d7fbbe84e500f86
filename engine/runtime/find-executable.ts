import { accessSync, constants } from "node:fs";
import { delimiter, join, resolve } from "node:path";

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A program on PATH (or the path itself, when it has a slash), if it exists and is executable. */
export function findExecutable(name: string): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? resolve(name) : undefined;
  for (const dir of (process.env["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(delimiter)) {
    if (dir === "") continue;
    const p = join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}
