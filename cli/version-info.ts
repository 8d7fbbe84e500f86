import pkg from "../package.json" with { type: "json" };

/** The product version (package.json's), plus the git commit when the build recorded one. */
export function productVersion(): string {
  return pkg.version;
}
