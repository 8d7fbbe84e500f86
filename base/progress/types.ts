/**
 * The progress stream of a build, as the renderers (`plain`, `tty`, `rawjson`, `quiet`) consume it: the
 * solver produces it, the engine's build service carries it over the wire, and the `docker buildx`
 * plugin renders it on the client. Kept here, beside the renderers, so a client renders without
 * importing the solver.
 */

/** A vertex (op) digest: `sha256:` + 64 hex digits. */
export type Digest = `sha256:${string}`;

/** A transfer or sub-task status, as BuildKit's `VertexStatus`. */
export interface StatusUpdate {
  readonly id: string;
  readonly current: number;
  readonly total?: number;
  /** ISO times; `completed` set means the status line prints `done`. */
  readonly started?: string;
  readonly completed?: string;
}

/** A failure as a build record and the progress stream keep it: the diagnostic ID and the text. */
export interface RecordedError {
  readonly id: string;
  readonly message: string;
  readonly next?: string;
}

/** The progress stream of one build (BuildKit's `SolveStatus`, one event at a time). */
export type ProgressEvent =
  | { readonly kind: "vertex-started"; readonly vertex: Digest; readonly index: number; readonly name: string; readonly time: string }
  | { readonly kind: "vertex-cached"; readonly vertex: Digest; readonly index: number; readonly name: string; readonly time: string }
  | {
      readonly kind: "vertex-completed";
      readonly vertex: Digest;
      readonly index: number;
      readonly time: string;
      /** Set when another build ran it and this one shared the result. */
      readonly sharedWith?: string;
    }
  | { readonly kind: "vertex-errored"; readonly vertex: Digest; readonly index: number; readonly time: string; readonly error: RecordedError }
  | { readonly kind: "vertex-canceled"; readonly vertex: Digest; readonly index: number; readonly time: string }
  | { readonly kind: "status"; readonly vertex: Digest; readonly index: number; readonly time: string; readonly status: StatusUpdate }
  | {
      readonly kind: "log";
      readonly vertex: Digest;
      readonly index: number;
      readonly time: string;
      readonly stream: 1 | 2;
      readonly data: Uint8Array;
    }
  /** Log bytes the display stream dropped because its consumer was slow; the on-disk log has them. */
  | { readonly kind: "log-elided"; readonly vertex: Digest; readonly index: number; readonly time: string; readonly bytes: number };

export type ProgressEventKind = ProgressEvent["kind"];
