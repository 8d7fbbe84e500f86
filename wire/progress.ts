import { create } from "@bufbuild/protobuf";
import { ProgressEventSchema, type ProgressEvent as WireProgressEvent } from "./gen/build_pb.ts";

/**
 * The progress event as the renderers consume it: the same shape as base/progress's `ProgressEvent`
 * (wire imports nothing of ours, so the shape is spelled out here; the engine and the plugin, which see
 * both, check at compile time that they agree). One converter each way, used by both ends.
 */
export type Sha256 = `sha256:${string}`;

export interface PlainStatus {
  readonly id: string;
  readonly current: number;
  readonly total?: number;
  readonly started?: string;
  readonly completed?: string;
}

export type PlainProgressEvent =
  | { readonly kind: "vertex-started"; readonly vertex: Sha256; readonly index: number; readonly name: string; readonly time: string }
  | { readonly kind: "vertex-cached"; readonly vertex: Sha256; readonly index: number; readonly name: string; readonly time: string }
  | { readonly kind: "vertex-completed"; readonly vertex: Sha256; readonly index: number; readonly time: string; readonly sharedWith?: string }
  | {
      readonly kind: "vertex-errored";
      readonly vertex: Sha256;
      readonly index: number;
      readonly time: string;
      readonly error: { readonly id: string; readonly message: string; readonly next?: string };
    }
  | { readonly kind: "vertex-canceled"; readonly vertex: Sha256; readonly index: number; readonly time: string }
  | { readonly kind: "status"; readonly vertex: Sha256; readonly index: number; readonly time: string; readonly status: PlainStatus }
  | { readonly kind: "log"; readonly vertex: Sha256; readonly index: number; readonly time: string; readonly stream: 1 | 2; readonly data: Uint8Array }
  | { readonly kind: "log-elided"; readonly vertex: Sha256; readonly index: number; readonly time: string; readonly bytes: number };

export function progressToWire(ev: PlainProgressEvent): WireProgressEvent {
  const base = { vertex: ev.vertex, index: ev.index, time: ev.time };
  switch (ev.kind) {
    case "vertex-started":
      return create(ProgressEventSchema, { ...base, kind: { case: "started", value: { name: ev.name } } });
    case "vertex-cached":
      return create(ProgressEventSchema, { ...base, kind: { case: "cached", value: { name: ev.name } } });
    case "vertex-completed":
      return create(ProgressEventSchema, { ...base, kind: { case: "completed", value: { sharedWith: ev.sharedWith ?? "" } } });
    case "vertex-errored":
      return create(ProgressEventSchema, { ...base, kind: { case: "errored", value: { id: ev.error.id, message: ev.error.message, next: ev.error.next ?? "" } } });
    case "vertex-canceled":
      return create(ProgressEventSchema, { ...base, kind: { case: "canceled", value: {} } });
    case "status": {
      const s = ev.status;
      return create(ProgressEventSchema, {
        ...base,
        kind: {
          case: "status",
          value: { id: s.id, current: BigInt(Math.round(s.current)), ...(s.total === undefined ? {} : { total: BigInt(Math.round(s.total)) }), started: s.started ?? "", completed: s.completed ?? "" },
        },
      });
    }
    case "log":
      return create(ProgressEventSchema, { ...base, kind: { case: "log", value: { stream: ev.stream, data: ev.data } } });
    case "log-elided":
      return create(ProgressEventSchema, { ...base, kind: { case: "logElided", value: { bytes: BigInt(ev.bytes) } } });
  }
}

/** The plain event of a wire message; undefined for an event kind this side does not know. */
export function progressFromWire(m: WireProgressEvent): PlainProgressEvent | undefined {
  const vertex = m.vertex as Sha256;
  const base = { vertex, index: m.index, time: m.time };
  const k = m.kind;
  switch (k.case) {
    case "started":
      return { kind: "vertex-started", ...base, name: k.value.name };
    case "cached":
      return { kind: "vertex-cached", ...base, name: k.value.name };
    case "completed":
      return { kind: "vertex-completed", ...base, ...(k.value.sharedWith === "" ? {} : { sharedWith: k.value.sharedWith }) };
    case "errored":
      return { kind: "vertex-errored", ...base, error: { id: k.value.id, message: k.value.message, ...(k.value.next === "" ? {} : { next: k.value.next }) } };
    case "canceled":
      return { kind: "vertex-canceled", ...base };
    case "status": {
      const s = k.value;
      const status: PlainStatus = {
        id: s.id,
        current: Number(s.current),
        ...(s.total === undefined ? {} : { total: Number(s.total) }),
        ...(s.started === "" ? {} : { started: s.started }),
        ...(s.completed === "" ? {} : { completed: s.completed }),
      };
      return { kind: "status", ...base, status };
    }
    case "log":
      return { kind: "log", ...base, stream: k.value.stream === 2 ? 2 : 1, data: k.value.data };
    case "logElided":
      return { kind: "log-elided", ...base, bytes: Number(k.value.bytes) };
    case undefined:
      return undefined;
  }
}
