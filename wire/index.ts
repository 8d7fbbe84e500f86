/**
 * `wire/`: the messages that cross the engine's wire. The build service's schema is `build.proto`
 * (generated code in `gen/`, never edited: `wire/tools/generate.sh`); `progress.ts` converts its
 * progress events to and from the renderers' plain shape.
 */
export * from "./gen/build_pb.ts";
export { ManifestHasher, manifestDigest, type ManifestFields } from "./context.ts";
export { progressFromWire, progressToWire, type PlainProgressEvent, type PlainStatus, type Sha256 } from "./progress.ts";

/** The path prefix the engine serves the build service under (Connect: `/<package>.<Service>/<Method>`). */
export const BUILD_SERVICE_PREFIX = "/hatake.build.v1.BuildService/";
