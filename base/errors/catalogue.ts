import { buildApiDiagnostics } from "./catalogue/build-api.ts";
import { buildCacheDiagnostics } from "./catalogue/build-cache.ts";
import { buildDiagnostics } from "./catalogue/build.ts";
import { buildxDiagnostics } from "./catalogue/buildx.ts";
import { cacheDiagnostics } from "./catalogue/cache.ts";
import { containerOpsDiagnostics } from "./catalogue/container-ops.ts";
import { coreDiagnostics } from "./catalogue/core.ts";
import { dockerfileDiagnostics } from "./catalogue/dockerfile.ts";
import { engineDiagnostics } from "./catalogue/engine.ts";
import { imageApiDiagnostics } from "./catalogue/image-api.ts";
import { imageDiagnostics } from "./catalogue/images.ts";
import { llbDiagnostics } from "./catalogue/llb.ts";
import { registryDiagnostics } from "./catalogue/registry.ts";
import { runtimeDiagnostics } from "./catalogue/runtime.ts";
import { solverDiagnostics } from "./catalogue/solver.ts";
import { snapshotDiagnostics } from "./catalogue/snapshot.ts";
import { stateDiagnostics } from "./catalogue/state.ts";
import { systemResourceDiagnostics } from "./catalogue/system-resources.ts";

/**
 * The catalogue of diagnostic IDs: the single source of truth, one file per area group under
 * `catalogue/`. `docs/errors.md` is rendered from it (`npm run docs:errors`; CI checks it is current).
 *
 * Rules (checked by catalogue.test.ts):
 * - an ID is never reused or renumbered once it has shipped;
 * - `cause` says what happened, `next` says what to do; neither blames the user;
 * - every ID is produced by at least one test (some `*.test.ts` file names it).
 */
export const catalogue = {
  ...coreDiagnostics,
  ...dockerfileDiagnostics,
  ...llbDiagnostics,
  ...cacheDiagnostics,
  ...registryDiagnostics,
  ...solverDiagnostics,
  ...engineDiagnostics,
  ...imageDiagnostics,
  ...imageApiDiagnostics,
  ...stateDiagnostics,
  ...systemResourceDiagnostics,
  ...buildDiagnostics,
  ...buildApiDiagnostics,
  ...runtimeDiagnostics,
  ...snapshotDiagnostics,
  ...buildxDiagnostics,
  ...buildCacheDiagnostics,
  ...containerOpsDiagnostics,
} as const;

export type Catalogue = typeof catalogue;
export type KnownDiagnosticId = keyof Catalogue;
