import { htkError } from "../../base/errors/index.ts";
import type { ContentStore } from "../../cache/index.ts";
import type { RegistryClient } from "../../base/registry/index.ts";
import { parseName } from "../images/index.ts";
import type { ExportProgress } from "./export-progress.ts";
import type { ExportedImage } from "./image-export.ts";

/**
 * `--push`, `-o type=registry` and `-o type=image,push=true`: the exported image pushed under each
 * name with the registry client (blobs the repository has are skipped; the manifest goes last), with
 * BuildKit's progress lines: `pushing layers`, then `pushing manifest for NAME:TAG@DIGEST`.
 */
export async function pushImage(
  registry: RegistryClient,
  store: ContentStore,
  image: ExportedImage,
  names: readonly string[],
  progress: Pick<ExportProgress, "oneOff">,
  signal: AbortSignal,
): Promise<void> {
  // BuildKit's exporter refuses a push without a name before anything is sent.
  if (names.length === 0) throw htkError("HTK-BUILD-0202", {});
  for (const name of names) {
    // Docker's reference errors (HTK-ENGINE-0201/0202); BuildKit names the tag and the digest.
    const parsed = parseName(name);
    const manifestText = `pushing manifest for ${parsed.kind === "tag" ? `${parsed.key}@${image.manifest.digest}` : parsed.key}`;
    // The client sends the blobs (config and layers), then the manifest: the first line ends and
    // the second starts when the last blob is settled.
    let blobsLeft = image.blobs;
    const layersDone = progress.oneOff("pushing layers");
    let manifestDone = blobsLeft === 0 ? (layersDone(), progress.oneOff(manifestText)) : undefined;
    try {
      await registry.push(name, {
        store,
        root: image.manifest,
        signal,
        onProgress: (e) => {
          if (e.kind === "manifest-pushed") return;
          blobsLeft--;
          if (blobsLeft === 0 && manifestDone === undefined) {
            layersDone();
            manifestDone = progress.oneOff(manifestText);
          }
        },
      });
    } finally {
      if (manifestDone === undefined) layersDone();
    }
    (manifestDone ?? progress.oneOff(manifestText))();
  }
}
