import pkg from "../package.json" with { type: "json" };

/**
 * What the plugin says about itself. `docker-cli-plugin-metadata` is answered with {@link metadataJson}
 * (the launcher bin/docker-buildx answers it from dist/ without starting Node, since the docker CLI
 * asks before every `docker build`).
 *
 * Version: tools gate features on buildx's version (compose needs 0.17 or later), so the plugin reports
 * the buildx release whose command line it follows, with HATAKE's own version as a pre-release tag:
 * `v0.24.0-hatake.0.1.0`. `docker buildx version` prints it with the git revision of the build.
 */
export const BUILDX_COMPATIBLE = "v0.24.0";
export const PLUGIN_VERSION = `${BUILDX_COMPATIBLE}-hatake.${pkg.version}`;
export const PLUGIN_PACKAGE = "hatake/buildx";

declare const __HATAKE_REVISION__: string | undefined;

/** The git revision recorded by tools/build.mjs; empty when run from sources. */
export function revision(): string {
  return typeof __HATAKE_REVISION__ === "string" ? __HATAKE_REVISION__ : "";
}

export function metadataJson(): string {
  return JSON.stringify({
    SchemaVersion: "0.1.0",
    Vendor: "HATAKE",
    Version: PLUGIN_VERSION,
    ShortDescription: "Docker Buildx (HATAKE builder)",
  });
}
