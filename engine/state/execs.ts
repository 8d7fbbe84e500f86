import { htkError } from "../../base/errors/index.ts";
import type { StateContext } from "./context.ts";
import { containerEvent } from "./lifecycle.ts";
import { generateId } from "./names.ts";
import type { Container, ExecConfig, ExecRecord } from "./types.ts";

interface ExecRow {
  id: string;
  container_id: string;
  config_json: string;
  running: number;
  exit_code: number | null;
  pid: number;
  can_remove: number;
  created_ns: string;
}

/**
 * Exec instances. Docker keeps them in memory only; here they are rows so `exec inspect` survives an
 * engine restart (an instance that was running then is ended by reconciliation). They go with their
 * container (ON DELETE CASCADE).
 */
export class ExecStore {
  readonly #ctx: StateContext;

  constructor(ctx: StateContext) {
    this.#ctx = ctx;
  }

  /** `exec_create: <cmd>` is recorded as Docker does (entrypoint, a space, the arguments). */
  create(c: Container<"running">, config: ExecConfig): ExecRecord {
    return this.#ctx.tx(() => {
      const id = generateId();
      const createdNs = this.#ctx.clock();
      this.#ctx.db
        .prepare("INSERT INTO execs (id, container_id, config_json, created_ns) VALUES (?, ?, ?, ?)")
        .run(id, c.id, JSON.stringify(config), createdNs);
      this.#ctx.emit(containerEvent(c, `exec_create: ${execAction(config.Cmd)}`, { execID: id }));
      return { id, containerId: c.id, config, running: false, exitCode: null, pid: 0, canRemove: false, createdNs };
    });
  }

  /** HTK-ENGINE-0119 when unknown. */
  get(id: string): ExecRecord {
    const row = this.#ctx.db.prepare("SELECT *, CAST(created_ns AS TEXT) AS created_ns FROM execs WHERE id = ?").get(id) as ExecRow | undefined;
    if (row === undefined) throw htkError("HTK-ENGINE-0119", { id });
    return fromRow(row);
  }

  /**
   * The container's exec IDs that have not ended, oldest first (inspect's ExecIDs: Docker drops an
   * exec from the container's list when its process exits; `exec inspect` still finds it).
   */
  idsOf(containerId: string): string[] {
    return (this.#ctx.db.prepare("SELECT id FROM execs WHERE container_id = ? AND exit_code IS NULL ORDER BY created_ns, id").all(containerId) as Array<{ id: string }>).map((r) => r.id);
  }

  started(e: ExecRecord, c: Container, pid: number): ExecRecord {
    return this.#ctx.tx(() => {
      this.#ctx.db.prepare("UPDATE execs SET running = 1, pid = ? WHERE id = ?").run(pid, e.id);
      this.#ctx.emit(containerEvent(c, `exec_start: ${execAction(e.config.Cmd)}`, { execID: e.id }));
      return { ...e, running: true, pid };
    });
  }

  /** `exec_die` with exitCode, as Docker 26 emits it. */
  exited(e: ExecRecord, c: Container, exitCode: number): ExecRecord {
    return this.#ctx.tx(() => {
      this.#ctx.db.prepare("UPDATE execs SET running = 0, exit_code = ?, can_remove = 1 WHERE id = ?").run(exitCode, e.id);
      this.#ctx.emit(containerEvent(c, "exec_die", { execID: e.id, exitCode: String(exitCode) }));
      return { ...e, running: false, exitCode, canRemove: true };
    });
  }

  /** ExecInspectResponse. */
  inspectJson(e: ExecRecord): Record<string, unknown> {
    const [entrypoint = "", ...args] = e.config.Cmd;
    return {
      CanRemove: e.canRemove,
      ContainerID: e.containerId,
      DetachKeys: e.config.DetachKeys ?? "",
      ExitCode: e.exitCode,
      ID: e.id,
      OpenStderr: e.config.AttachStderr ?? false,
      OpenStdin: e.config.AttachStdin ?? false,
      OpenStdout: e.config.AttachStdout ?? false,
      ProcessConfig: {
        arguments: args,
        entrypoint,
        privileged: e.config.Privileged ?? false,
        tty: e.config.Tty ?? false,
        user: e.config.User ?? "",
      },
      Running: e.running,
      Pid: e.pid,
    };
  }
}

/** Docker writes `entrypoint + " " + args joined`, so a command without arguments keeps a trailing space. */
function execAction(cmd: readonly string[]): string {
  const [entrypoint = "", ...args] = cmd;
  return `${entrypoint} ${args.join(" ")}`;
}

function fromRow(r: ExecRow): ExecRecord {
  return {
    id: r.id,
    containerId: r.container_id,
    config: JSON.parse(r.config_json) as ExecConfig,
    running: r.running === 1,
    exitCode: r.exit_code,
    pid: r.pid,
    canRemove: r.can_remove === 1,
    createdNs: BigInt(r.created_ns),
  };
}
