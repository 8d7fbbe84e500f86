import { container } from "./implemented-containers.ts";
import type { ApiClient, Fixture, ImplementedOperation } from "./implemented.ts";

/** A running container (the containers family's fixture) and an exec instance in it: `id` is the exec's. */
function execInstance(opts: { readonly cmd?: readonly string[]; readonly tty?: boolean; readonly start?: boolean; readonly waitForEnd?: boolean } = {}) {
  return async (api: ApiClient): Promise<Fixture> => {
    const c = await container()(api);
    const containerId = c.params?.["id"] ?? "";
    const r = await api.call("POST", `/containers/${containerId}/exec`, { body: { Cmd: opts.cmd ?? ["/busybox", "true"], Tty: opts.tty === true, AttachStdout: true } });
    if (r.status !== 201) throw new Error(`exec create answered ${r.status}: ${r.body.toString("utf8")}`);
    const id = (JSON.parse(r.body.toString("utf8")) as { Id: string }).Id;
    if (opts.start === true) {
      const s = await api.call("POST", `/exec/${id}/start`, { body: { Detach: true, Tty: opts.tty === true } });
      if (s.status !== 200) throw new Error(`exec start answered ${s.status}: ${s.body.toString("utf8")}`);
      for (let i = 0; opts.waitForEnd === true && i < 200; i++) {
        const e = await api.call("GET", `/exec/${id}/json`);
        if ((JSON.parse(e.body.toString("utf8")) as { ExitCode: number | null }).ExitCode !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    return { params: { id }, ...(c.cleanup === undefined ? {} : { cleanup: c.cleanup }) };
  };
}

/** A running container; the image a commit of it makes is removed afterwards with it. */
async function committedContainer(api: ApiClient): Promise<Fixture> {
  const c = await container()(api);
  return {
    ...(c.params === undefined ? {} : { params: c.params }),
    cleanup: async () => {
      await api.call("DELETE", "/images/conformance-commit:1", { query: { force: "1" } });
      await c.cleanup?.();
    },
  };
}

/** A running container, paused. */
async function pausedContainer(api: ApiClient): Promise<Fixture> {
  const c = await container()(api);
  const r = await api.call("POST", `/containers/${c.params?.["id"] ?? ""}/pause`);
  if (r.status !== 204) throw new Error(`pause answered ${r.status}: ${r.body.toString("utf8")}`);
  return c;
}

/**
 * The container operations beyond the lifecycle (engine/api/exec.ts, container-archive.ts,
 * container-ops.ts), on the containers family's fixture: a running container of an imported image
 * that runs the host's static busybox (`/busybox`). The CLI paths run against the busybox image in
 * engine/api/container-ops.e2e.test.ts.
 */
export const IMPLEMENTED_CONTAINERS2: Readonly<Record<string, ImplementedOperation>> = {
  ContainerExec: {
    cases: [{ path: "/containers/{id}/exec", body: { Cmd: ["/busybox", "echo", "hi"], AttachStdout: true, Env: ["A=1"], WorkingDir: "/" }, setup: container() }],
    negative: [{ name: "unknown container → 404", path: "/containers/hatake-conformance-missing/exec", body: { Cmd: ["true"] }, status: 404 }],
  },
  ExecStart: {
    cases: [
      { name: "detached", path: "/exec/{id}/start", body: { Detach: true }, setup: execInstance() },
      { name: "attached, not upgraded: the output until the end", path: "/exec/{id}/start", body: { Detach: false }, setup: execInstance({ cmd: ["/busybox", "echo", "hi"] }) },
    ],
    negative: [{ name: "unknown exec → 404", path: "/exec/hatake-conformance-missing/start", body: { Detach: true }, status: 404 }] },
  ExecResize: {
    cases: [{ path: "/exec/{id}/resize", query: { h: "40", w: "100" }, setup: execInstance({ cmd: ["/busybox", "sleep", "30"], tty: true, start: true }) }],
    negative: [{ name: "unknown exec → 404", path: "/exec/hatake-conformance-missing/resize", query: { h: "24", w: "80" }, status: 404 }] },
  // An instance that has not ended has ExitCode null, as Docker's (*int); the spec's schema types it
  // integer only, so the case inspects one that ended.
  ExecInspect: { cases: [{ name: "ended", path: "/exec/{id}/json", setup: execInstance({ start: true, waitForEnd: true }) }] },
  ContainerTop: { cases: [{ path: "/containers/{id}/top", setup: container() }, { name: "ps_args", path: "/containers/{id}/top", query: { ps_args: "-o pid,comm" }, setup: container() }] },
  ContainerStats: {
    cases: [
      { name: "one-shot", path: "/containers/{id}/stats", query: { stream: "false", "one-shot": "true" }, setup: container() },
      { name: "a container that does not run", path: "/containers/{id}/stats", query: { stream: "false" }, setup: container({ started: false }) },
    ],
    negative: [{ name: "unknown container → 404", path: "/containers/hatake-conformance-missing/stats", query: { stream: "false" }, status: 404 }] },
  ContainerArchiveInfo: {
    cases: [{ path: "/containers/{id}/archive", query: { path: "/busybox" }, setup: container() }],
    negative: [
      { name: "unknown container → 404", path: "/containers/hatake-conformance-missing/archive", query: { path: "/" }, status: 404 },
      { name: "no path → 400", path: "/containers/hatake-conformance-missing/archive", status: 400 },
    ],
  },
  ContainerArchive: {
    cases: [{ path: "/containers/{id}/archive", query: { path: "/busybox" }, setup: container() }, { name: "a stopped container", path: "/containers/{id}/archive", query: { path: "/" }, setup: container({ started: false }) }],
    negative: [
      { name: "unknown container → 404", path: "/containers/hatake-conformance-missing/archive", query: { path: "/" }, status: 404 },
      { name: "a path that is not there → 404", path: "/containers/{id}/archive", query: { path: "/no/such/file" }, status: 404, setup: container() },
    ],
  },
  PutContainerArchive: {
    cases: [{ name: "an empty tar", path: "/containers/{id}/archive", query: { path: "/", noOverwriteDirNonDir: "true" }, rawBody: Buffer.alloc(1024), headers: { "Content-Type": "application/x-tar" }, setup: container() }],
    negative: [
      { name: "unknown container → 404", path: "/containers/hatake-conformance-missing/archive", query: { path: "/" }, rawBody: Buffer.alloc(1024), status: 404 },
      { name: "not a directory → 400", path: "/containers/{id}/archive", query: { path: "/busybox" }, rawBody: Buffer.alloc(1024), status: 400, setup: container() },
    ],
  },
  ContainerExport: { cases: [{ path: "/containers/{id}/export", setup: container({ started: false }) }] },
  ContainerChanges: { cases: [{ path: "/containers/{id}/changes", setup: container() }] },
  ImageCommit: {
    cases: [
      {
        path: "/commit",
        query: { container: "{id}", repo: "conformance-commit", tag: "1", comment: "conformance", author: "HATAKE", changes: "ENV COMMITTED=1" },
        setup: committedContainer,
      },
    ],
    negative: [{ name: "unknown container → 404", path: "/commit", query: { container: "hatake-conformance-missing" }, status: 404 }],
  },
  ContainerPause: { cases: [{ path: "/containers/{id}/pause", setup: container() }] },
  ContainerUnpause: { cases: [{ path: "/containers/{id}/unpause", setup: pausedContainer }] },
  ContainerUpdate: {
    cases: [{ path: "/containers/{id}/update", body: { CpuShares: 512, Memory: 67108864, RestartPolicy: { Name: "on-failure", MaximumRetryCount: 2 } }, setup: container() }],
    negative: [{ name: "unknown container → 404", path: "/containers/hatake-conformance-missing/update", body: { Memory: 67108864 }, status: 404 }] },
};
