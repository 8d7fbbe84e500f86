import type { ApiClient, Fixture, ImplementedOperation } from "./implemented.ts";

/**
 * The container lifecycle operations (engine/api/containers.ts). The conformance engines have no
 * registry: containers are made from an image imported from an empty tar, running the host's static
 * busybox (`/bin/busybox`, which the test machines have) bind-mounted read-only, so every operation is
 * checked on a real, running container.
 */

/** An empty tar: the end-of-archive marker, two zero blocks. */
const EMPTY_TAR = Buffer.alloc(1024);
const IMAGE = "conformance-containers:1";

/**
 * The image, with a label, an entrypoint and a volume: Docker reports fields an image does not set as
 * null where the spec's schema admits only objects and arrays, so the fixture sets them.
 */
async function importImage(api: ApiClient): Promise<void> {
  const query = new URLSearchParams({ fromSrc: "-", repo: IMAGE });
  for (const c of ["LABEL hatake.conformance=1", 'ENTRYPOINT ["/busybox"]', "VOLUME /data"]) query.append("changes", c);
  const r = await api.call("POST", `/images/create?${query.toString()}`, { rawBody: EMPTY_TAR });
  if (r.status !== 200 || r.body.toString("utf8").includes("errorDetail")) throw new Error(`image import answered ${r.status}: ${r.body.toString("utf8")}`);
}

const removeImage = async (api: ApiClient): Promise<void> => void (await api.call("DELETE", `/images/${IMAGE}`, { query: { force: "1" } }));

/** A create body for a container that runs busybox from the host (the image's entrypoint). */
export function body(cmd: readonly string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { Image: IMAGE, Cmd: [...cmd], Labels: { "hatake.conformance": "1" }, HostConfig: { Binds: ["/bin/busybox:/busybox:ro"] }, ...extra };
}

/** A container for one case (`id` parameter), started unless `started: false`; removed afterwards. */
export function container(opts: { readonly started?: boolean; readonly cmd?: readonly string[]; readonly tty?: boolean } = {}) {
  return async (api: ApiClient): Promise<Fixture> => {
    await importImage(api);
    const r = await api.call("POST", "/containers/create", { body: body(opts.cmd ?? ["sleep", "60"], opts.tty === true ? { Tty: true } : {}) });
    if (r.status !== 201) throw new Error(`create answered ${r.status}: ${r.body.toString("utf8")}`);
    const id = (JSON.parse(r.body.toString("utf8")) as { Id: string }).Id;
    if (opts.started !== false) {
      const s = await api.call("POST", `/containers/${id}/start`);
      if (s.status !== 204) throw new Error(`start answered ${s.status}: ${s.body.toString("utf8")}`);
    }
    return {
      params: { id },
      cleanup: async () => {
        await api.call("DELETE", `/containers/${id}`, { query: { force: "1", v: "1" } });
        await removeImage(api);
      },
    };
  };
}

const removeImageAfter = async (api: ApiClient): Promise<Fixture> => {
  await importImage(api);
  return {
    cleanup: async () => {
      const list = await api.call("GET", "/containers/json", { query: { all: "1", filters: JSON.stringify({ name: ["conformance-create"] }) } });
      for (const c of JSON.parse(list.body.toString("utf8")) as Array<{ Id: string }>) await api.call("DELETE", `/containers/${c.Id}`, { query: { force: "1", v: "1" } });
      await removeImage(api);
    },
  };
};

export const IMPLEMENTED_CONTAINERS: Readonly<Record<string, ImplementedOperation>> = {
  ContainerList: {
    cases: [
      { path: "/containers/json" },
      { name: "all, with filters and sizes", path: "/containers/json", query: { all: "1", size: "1", filters: JSON.stringify({ label: ["hatake.conformance=1"] }) }, setup: container() },
    ],
    negative: [{ name: "an unknown filter → 400", path: "/containers/json", query: { filters: JSON.stringify({ colour: ["red"] }) }, status: 400 }],
  },
  ContainerCreate: {
    cases: [{ name: "a named container", path: "/containers/create", query: { name: "conformance-create" }, body: body(["true"]), setup: removeImageAfter }],
    negative: [
      { name: "an image that is not there → 404", path: "/containers/create", body: { Image: "hatake-conformance-missing:v0", Cmd: ["true"] }, status: 404 },
      { name: "a field of the wrong type → 400", path: "/containers/create", body: { Image: "x", Tty: "yes" }, status: 400 },
      { name: "an invalid name → 400", path: "/containers/create", query: { name: "-bad" }, body: { Image: "x" }, status: 400 },
    ],
  },
  ContainerInspect: { cases: [{ path: "/containers/{id}/json", setup: container() }, { name: "with sizes, never started", path: "/containers/{id}/json", query: { size: "1" }, setup: container({ started: false }) }] },
  ContainerLogs: {
    cases: [{ path: "/containers/{id}/logs", query: { stdout: "1", stderr: "1", timestamps: "1", tail: "10" }, setup: container({ cmd: ["echo", "hi"] }) }],
    negative: [{ name: "unknown id → 404", path: "/containers/hatake-conformance-missing/logs", query: { stdout: "1" }, status: 404 }],
  },
  ContainerResize: {
    cases: [{ path: "/containers/{id}/resize", query: { h: "40", w: "100" }, setup: container({ tty: true }) }],
    negative: [{ name: "unknown id → 404", path: "/containers/hatake-conformance-missing/resize", query: { h: "24", w: "80" }, status: 404 }],
  },
  ContainerStart: { cases: [{ path: "/containers/{id}/start", setup: container({ started: false }) }, { name: "already running → 304", path: "/containers/{id}/start", status: 304, setup: container() }] },
  ContainerStop: { cases: [{ path: "/containers/{id}/stop", query: { t: "0" }, setup: container() }, { name: "not running → 304", path: "/containers/{id}/stop", status: 304, setup: container({ started: false }) }] },
  ContainerRestart: { cases: [{ path: "/containers/{id}/restart", query: { t: "0" }, setup: container() }] },
  ContainerKill: {
    cases: [{ path: "/containers/{id}/kill", query: { signal: "SIGKILL" }, setup: container() }],
    negative: [
      { name: "unknown id → 404", path: "/containers/hatake-conformance-missing/kill", status: 404 },
      { name: "not running → 409", path: "/containers/{id}/kill", status: 409, setup: container({ started: false }) },
    ],
  },
  ContainerRename: {
    cases: [{ path: "/containers/{id}/rename", query: { name: "conformance-renamed" }, setup: container({ started: false }) }],
    negative: [{ name: "unknown id → 404", path: "/containers/hatake-conformance-missing/rename", query: { name: "other-name" }, status: 404 }],
  },
  ContainerAttach: {
    cases: [{ name: "logs only, not streamed", path: "/containers/{id}/attach", query: { logs: "1", stream: "0", stdout: "1" }, setup: container({ cmd: ["echo", "hi"] }) }],
  },
  ContainerAttachWebsocket: {
    cases: [
      {
        name: "websocket upgrade, logs only",
        path: "/containers/{id}/attach/ws",
        query: { logs: "1", stream: "0", stdout: "1" },
        headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13" },
        status: 101,
        setup: container({ cmd: ["echo", "hi"] }),
      },
    ],
    negative: [
      { name: "unknown id → 404", path: "/containers/hatake-conformance-missing/attach/ws", query: { stream: "1" }, status: 404 },
      { name: "not a websocket request → 400", path: "/containers/{id}/attach/ws", query: { stream: "1" }, status: 400, setup: container({ started: false }) },
    ],
  },
  ContainerWait: { cases: [{ path: "/containers/{id}/wait", setup: container({ cmd: ["sh", "-c", "exit 3"] }) }, { name: "a container that never ran answers at once", path: "/containers/{id}/wait", query: { condition: "not-running" }, setup: container({ started: false }) }] },
  ContainerDelete: { cases: [{ path: "/containers/{id}", query: { force: "1", v: "1" }, setup: container() }] },
  ContainerPrune: { cases: [{ path: "/containers/prune" }, { name: "with label filter", path: "/containers/prune", query: { filters: JSON.stringify({ label: ["hatake.conformance=1"] }) } }] },
};
