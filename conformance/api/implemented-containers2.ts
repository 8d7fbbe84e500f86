import type { ImplementedOperation } from "./implemented.ts";

/**
 * The container operations beyond the lifecycle (engine/api/exec.ts, container-archive.ts,
 * container-ops.ts). The conformance engine starts without a runnable image, so the cases are
 * Docker's refusals: unknown containers and exec instances (404), requests the API turns away (400).
 * The positive paths run against busybox in engine/api/container-ops.e2e.test.ts.
 */
export const IMPLEMENTED_CONTAINERS2: Readonly<Record<string, ImplementedOperation>> = {
  ContainerExec: {
    cases: [],
    negative: [{ name: "unknown container → 404", path: "/containers/hatake-conformance-missing/exec", body: { Cmd: ["true"] }, status: 404 }],
  },
  ExecStart: { cases: [], negative: [{ name: "unknown exec → 404", path: "/exec/hatake-conformance-missing/start", body: { Detach: true }, status: 404 }] },
  ExecResize: { cases: [], negative: [{ name: "unknown exec → 404", path: "/exec/hatake-conformance-missing/resize", query: { h: "24", w: "80" }, status: 404 }] },
  ExecInspect: { cases: [] },
  ContainerTop: { cases: [] },
  ContainerStats: { cases: [], negative: [{ name: "unknown container → 404", path: "/containers/hatake-conformance-missing/stats", query: { stream: "false" }, status: 404 }] },
  ContainerPause: { cases: [] },
  ContainerUnpause: { cases: [] },
  ContainerUpdate: { cases: [], negative: [{ name: "unknown container → 404", path: "/containers/hatake-conformance-missing/update", body: { Memory: 67108864 }, status: 404 }] },
};
