import type { BusyboxFixture } from "./busybox-image.ts";
import type { AuthRegistryInfo, RegistryInfo } from "./registry.ts";

/** The busybox fixture plus where global set-up pushed it. */
export interface PushedBusybox extends BusyboxFixture {
  /** "127.0.0.1:5123/busybox:latest" in the plain registry. */
  readonly reference: string;
}

/** Everything `testing/global-setup.ts` provides to the `real` project (read with `inject(key)`). */
export interface HarnessFixtures {
  readonly registry: RegistryInfo;
  readonly authRegistry: AuthRegistryInfo;
  readonly busybox: PushedBusybox;
  /** `.cache/fixtures` (or $HATAKE_FIXTURE_CACHE): where built images are cached. */
  readonly fixtureCacheDir: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    registry: RegistryInfo;
    authRegistry: AuthRegistryInfo;
    busybox: PushedBusybox;
    fixtureCacheDir: string;
  }
}
