/**
 * A local registry for trying the engine by hand (and for checking an issue's acceptance points with the
 * real docker CLI): Debian's docker-registry on a free 127.0.0.1 port with the busybox fixture image
 * pushed as `busybox:latest`. Prints the references, then serves until Ctrl-C.
 *
 *     npx tsx testing/dev-registry.ts           # → 127.0.0.1:PORT/busybox:latest
 */
import { ensureBusyboxImage } from "./busybox-image.ts";
import { fixtureCacheDir } from "./paths.ts";
import { startRegistry } from "./registry.ts";
import { skopeoCopy } from "./skopeo.ts";

const registry = await startRegistry({ name: "dev-registry" });
const busybox = await ensureBusyboxImage(fixtureCacheDir());
const reference = `${registry.host}/busybox:latest`;
await skopeoCopy(`oci:${busybox.ociDir}:${busybox.ociRef}`, `docker://${reference}`);
process.stdout.write(`registry ${registry.host}\nbusybox  ${reference}\n`);
const stop = (): void => {
  void registry.stop().finally(() => process.exit(0));
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
setInterval(() => undefined, 1 << 30);
