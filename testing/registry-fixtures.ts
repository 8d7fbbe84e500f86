import { ensureBusyboxImage } from "./busybox-image.ts";
import { fixtureCacheDir } from "./paths.ts";
import { startRegistry, type RunningRegistry } from "./registry.ts";
import { skopeoCopy } from "./skopeo.ts";

/**
 * The registries and the busybox image outside vitest (global-setup.ts does the same for the `real`
 * project): a plain and an htpasswd registry, busybox pushed to the plain one as `busybox:latest`.
 * For runners that are not tests, e.g. `npm run conformance -- flows`. `stop()` stops both registries
 * and removes their folders; they also die with this process (pdeathsig).
 */
export interface RegistryFixtures {
  readonly registry: string;
  readonly authRegistry: string;
  readonly username: string;
  readonly password: string;
  /** `127.0.0.1:PORT/busybox:latest` in the plain registry. */
  readonly busybox: string;
  stop(): Promise<void>;
}

export async function startRegistryFixtures(): Promise<RegistryFixtures> {
  const started: RunningRegistry[] = [];
  const track = (r: RunningRegistry): RunningRegistry => (started.push(r), r);
  const stop = async (): Promise<void> => void (await Promise.allSettled(started.splice(0).map((r) => r.stop())));
  const results = await Promise.allSettled([
    ensureBusyboxImage(fixtureCacheDir()),
    startRegistry({ name: "flows-registry" }).then(track),
    startRegistry({ name: "flows-auth-registry", auth: { username: "hatake", password: "hatake-flows-password" } }).then(track),
  ] as const);
  const [busybox, registry, auth] = results;
  if (busybox.status === "rejected" || registry.status === "rejected" || auth.status === "rejected") {
    await stop();
    throw [busybox, registry, auth].find((r): r is PromiseRejectedResult => r.status === "rejected")?.reason;
  }
  const reference = `${registry.value.host}/busybox:latest`;
  try {
    await skopeoCopy(`oci:${busybox.value.ociDir}:${busybox.value.ociRef}`, `docker://${reference}`, { timeoutMs: 60_000 });
  } catch (err) {
    await stop();
    throw err;
  }
  return { registry: registry.value.host, authRegistry: auth.value.host, username: auth.value.username ?? "", password: auth.value.password ?? "", busybox: reference, stop };
}
