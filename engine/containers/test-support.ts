import type { TestEngine } from "../e2e/harness.ts";

/** `docker pull` of an image into a test engine (from the harness' local registry); throws when it fails. */
export async function seedImage(engine: TestEngine, reference: string): Promise<void> {
  const r = await engine.docker(["pull", "-q", reference]);
  if (r.code !== 0) throw new Error(`docker pull ${reference} failed (${r.code}): ${r.stderr.trim()}`);
}
