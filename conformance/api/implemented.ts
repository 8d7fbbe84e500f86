import { IMPLEMENTED_BUILD } from "./implemented-build.ts";
import type { WireResponse } from "../engine.ts";
import { IMPLEMENTED_NETWORKS } from "./implemented-networks.ts";
import { IMPLEMENTED_SYSTEM } from "./implemented-system.ts";
import { IMPLEMENTED_VOLUMES } from "./implemented-volumes.ts";
import { IMPLEMENTED_CONTAINERS } from "./implemented-containers.ts";
import { IMPLEMENTED_IMAGES } from "./implemented-images.ts";
import { IMPLEMENTED_CONTAINERS2 } from "./implemented-containers2.ts";

/**
 * The operations the engine implements, by the spec's operationId, each with the requests the contract
 * tests send. This is the one table engine issues extend: implement an endpoint, add its line here,
 * and the suite validates status, spec-named headers and body against the v1.45 schema.
 *
 * An operation not listed here is probed as "not implemented": the engine must answer it with Docker's
 * JSON error shape. An operation that answers successfully but is not listed fails the probe, so the
 * table cannot fall behind the engine.
 */
export interface ApiClient {
  /** A request under the version prefix (`/v1.45` is added): for fixtures that set up or clean up. */
  call(method: string, path: string, opts?: { query?: Readonly<Record<string, string>>; body?: unknown; rawBody?: Buffer; headers?: Readonly<Record<string, string>> }): Promise<WireResponse>;
}

export interface Fixture {
  /** Values for the `{name}` segments of the case's path (and `{name}` in query values). */
  readonly params?: Readonly<Record<string, string>>;
  readonly cleanup?: () => Promise<void>;
}

export interface RequestCase {
  /** Shown in failure lines; defaults to the method and path. */
  readonly name?: string;
  /** The path under the version prefix with parameters filled (`/containers/abc/json`), or `{name}`s a fixture fills. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Sent as is, instead of `body` (a tar for image import and load). */
  readonly rawBody?: Buffer;
  readonly headers?: Readonly<Record<string, string>>;
  /** The expected status; defaults to the first 2xx the spec documents. */
  readonly status?: number;
  /** Creates what the request needs (a container, an image …) over the API. */
  readonly setup?: (api: ApiClient) => Promise<Fixture>;
}

export interface ImplementedOperation {
  readonly cases: readonly RequestCase[];
  /**
   * Error cases: each must answer its status with a body that validates against the spec's response
   * for that status (Docker's `{message}`). When omitted and the spec documents a 404 for an operation
   * with path parameters, one is generated with unknown names in every parameter.
   */
  readonly negative?: readonly RequestCase[];
}

export const IMPLEMENTED: Readonly<Record<string, ImplementedOperation>> = {
  SystemPing: { cases: [{ path: "/_ping" }] },
  SystemPingHead: { cases: [{ path: "/_ping" }] },
  SystemVersion: { cases: [{ path: "/version" }] },
  ...IMPLEMENTED_SYSTEM,
  ...IMPLEMENTED_VOLUMES,
  ...IMPLEMENTED_NETWORKS,
  ...IMPLEMENTED_BUILD,
  ...IMPLEMENTED_CONTAINERS,
  ...IMPLEMENTED_IMAGES,
  ...IMPLEMENTED_CONTAINERS2,
};
