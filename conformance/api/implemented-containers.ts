import type { ImplementedOperation } from "./implemented.ts";

/**
 * The container lifecycle operations (engine/api/containers.ts). Without an image in the engine under
 * test (the conformance engine starts empty, and pulling is the images family's), the cases are the
 * ones that need no container: listings, prune, and the generated 404s for unknown IDs, plus create's
 * refusals. Cases on a real container join once an image can be pulled over the API.
 */
export const IMPLEMENTED_CONTAINERS: Readonly<Record<string, ImplementedOperation>> = {
  ContainerList: {
    cases: [
      { path: "/containers/json" },
      { name: "all, with filters", path: "/containers/json", query: { all: "1", filters: JSON.stringify({ status: ["exited"], label: ["a=b"] }) } },
    ],
    negative: [{ name: "an unknown filter → 400", path: "/containers/json", query: { filters: JSON.stringify({ colour: ["red"] }) }, status: 400 }],
  },
  ContainerCreate: {
    cases: [],
    negative: [
      { name: "an image that is not there → 404", path: "/containers/create", body: { Image: "hatake-conformance-missing:v0", Cmd: ["true"] }, status: 404 },
      { name: "a field of the wrong type → 400", path: "/containers/create", body: { Image: "x", Tty: "yes" }, status: 400 },
      { name: "an invalid name → 400", path: "/containers/create", query: { name: "-bad" }, body: { Image: "x" }, status: 400 },
    ],
  },
  ContainerInspect: { cases: [] },
  ContainerLogs: { cases: [], negative: [{ name: "unknown id → 404", path: "/containers/hatake-conformance-missing/logs", query: { stdout: "1" }, status: 404 }] },
  ContainerResize: { cases: [], negative: [{ name: "unknown id → 404", path: "/containers/hatake-conformance-missing/resize", query: { h: "24", w: "80" }, status: 404 }] },
  ContainerStart: { cases: [] },
  ContainerStop: { cases: [] },
  ContainerRestart: { cases: [] },
  ContainerKill: { cases: [] },
  ContainerRename: { cases: [], negative: [{ name: "unknown id → 404", path: "/containers/hatake-conformance-missing/rename", query: { name: "other-name" }, status: 404 }] },
  ContainerAttach: { cases: [] },
  ContainerWait: { cases: [] },
  ContainerDelete: { cases: [] },
  ContainerPrune: { cases: [{ path: "/containers/prune" }, { name: "with label filter", path: "/containers/prune", query: { filters: JSON.stringify({ label: ["hatake.conformance=1"] }) } }] },
};
