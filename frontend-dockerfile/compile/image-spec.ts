/**
 * The image config a Dockerfile build exports: the OCI image config JSON with Docker's extensions
 * (moby/docker-image-spec `DockerOCIImage`, what BuildKit's `dockerspec` package writes). Field names
 * are exactly the JSON keys, so the engine can serialize this object as the config blob as is.
 *
 * Optional fields are absent (not `null`) when unset: Go's `omitempty` drops them from the JSON too.
 */

/** `HEALTHCHECK`: durations are nanoseconds, as Go's `time.Duration` marshals to JSON. */
export interface HealthcheckSpec {
  /**
   * `["NONE"]` disables an inherited check; `["CMD", …]` runs argv; `["CMD-SHELL", "cmd"]` runs the
   * command with the image's shell.
   */
  readonly Test: readonly string[];
  readonly Interval?: number;
  readonly Timeout?: number;
  readonly StartPeriod?: number;
  readonly StartInterval?: number;
  readonly Retries?: number;
}

/** The `config` object: what a container started from the image gets by default. */
export interface ImageConfigSpec {
  readonly User?: string;
  /** Keys like `80/tcp`; values are always `{}` (Go's `map[string]struct{}`). */
  readonly ExposedPorts?: Readonly<Record<string, Record<string, never>>>;
  /** `NAME=value` entries, in definition order. */
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[];
  readonly Cmd?: readonly string[];
  readonly Volumes?: Readonly<Record<string, Record<string, never>>>;
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly StopSignal?: string;
  /** Docker's historical flag: CMD/ENTRYPOINT in shell form were already escaped (Windows needs it). */
  readonly ArgsEscaped?: boolean;
  readonly Healthcheck?: HealthcheckSpec;
  /** ONBUILD triggers, each the instruction text after `ONBUILD` (heredoc bodies appended). */
  readonly OnBuild?: readonly string[];
  readonly Shell?: readonly string[];
}

/** One `history` entry. `created_by` is the instruction as BuildKit records it. */
export interface HistorySpec {
  readonly created?: string;
  readonly created_by?: string;
  readonly author?: string;
  readonly comment?: string;
  /** True for an instruction that changes only the config (no layer). */
  readonly empty_layer?: boolean;
}

/** The layers: a placeholder until the exporter fills in the diff IDs of the built layers. */
export interface RootfsSpec {
  readonly type: "layers";
  readonly diff_ids: readonly string[];
}

export interface ImageSpec {
  readonly created?: string;
  /** MAINTAINER sets this (BuildKit writes it to `author`, not to a label). */
  readonly author?: string;
  readonly architecture: string;
  readonly os: string;
  readonly "os.version"?: string;
  readonly variant?: string;
  readonly config: ImageConfigSpec;
  readonly rootfs: RootfsSpec;
  readonly history?: readonly HistorySpec[];
}

/** What `resolveImageConfig` hands back: the config JSON of a base image, parsed loosely. */
export interface BaseImageConfig {
  readonly architecture?: string;
  readonly os?: string;
  readonly variant?: string;
  readonly author?: string;
  readonly config?: ImageConfigSpec;
  readonly rootfs?: { readonly type?: string; readonly diff_ids?: readonly string[] };
  readonly history?: readonly HistorySpec[];
}
