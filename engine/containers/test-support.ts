import type { TestEngine } from "../e2e/harness.ts";

/**
 * Puts an image into a test engine's image store the way `docker pull` does (the registry client,
 * then the image store's addPull), for suites that run before — or without — the pull endpoint.
 */
export async function seedImage(engine: TestEngine, reference: string): Promise<void> {
  const { registry, images } = engine.daemon.services;
  if (images.lookup(reference) !== undefined) return;
  const pulled = await registry.pull(reference, { store: images.content, signal: AbortSignal.timeout(120_000) });
  await images.addPull(pulled);
}
