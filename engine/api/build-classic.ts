import { createHash, randomBytes } from "node:crypto";
import type { HtkError } from "../../base/errors/index.ts";
import type { Instruction } from "../../frontend-dockerfile/index.ts";
import type { Digest } from "../../llb/index.ts";
import { stepError, type BuildEvent, type BuildPlan, type BuildResult } from "../build/engine-builds.ts";
import type { ProgressEvent } from "../../solver/index.ts";

/**
 * The classic builder's progress stream (API without `version=2`), as Docker API clients parse it:
 * jsonmessages `{"stream": …}` with `Step N/M : <instruction>`, ` ---> <short id>` after each step,
 * ` ---> Running in <id>` and ` ---> Removed intermediate container <id>` around a RUN that ran,
 * ` ---> Using cache` for a cached one, the step's output as it comes, pull status lines for a FROM
 * image that is pulled, `{"aux":{"ID":…}}` for the image, `Successfully built <12 hex>` and
 * `Successfully tagged <name>`; a failure is `{"errorDetail":{…},"error":…}` (a failed RUN with
 * Docker's text `The command '…' returned a non-zero code: N` and that code).
 *
 * Our builder runs steps concurrently; this view prints them in Dockerfile order. Output of a step
 * that is not the current one waits, bounded (MAX_HELD bytes in all; beyond that it is dropped with
 * a note: the build record keeps every byte). Intermediate IDs are stable names of each step's
 * position (our builds make no intermediate images); the last one is the image's own ID.
 */

export type JsonMessage =
  | { readonly stream: string }
  | { readonly status: string; readonly id?: string; readonly progressDetail?: Record<string, never> }
  | { readonly aux: { readonly ID: string } }
  | { readonly errorDetail: { readonly code?: number; readonly message: string }; readonly error: string };

/** Output bytes of steps that are not printed yet, held at most. */
const MAX_HELD = 1024 * 1024;

interface Step {
  readonly index: number;
  readonly text: string;
  readonly keyword: string;
  readonly stage: number;
  /** Last step of the stage the build targets: its ID is the image's. */
  final: boolean;
  readonly vertices: Set<Digest>;
  started: boolean;
  executed: boolean;
  done: boolean;
  failed: boolean;
  headerPrinted: boolean;
  /** The step's closing lines (but its ID) are out. */
  endPrinted: boolean;
  runningPrinted: boolean;
  pulling: boolean;
  heldDropped: number;
  container: string;
  id: string;
}

export class ClassicProgress {
  readonly #write: (m: JsonMessage) => Promise<void>;
  #steps: Step[] = [];
  readonly #byVertex = new Map<Digest, Step[]>();
  #cursor = 0;
  #held = 0;
  #plan: BuildPlan | undefined;
  /** Step IDs printed before by this daemon: a metadata step seen again says "Using cache". */
  static readonly #seen = new Set<string>();

  constructor(write: (m: JsonMessage) => Promise<void>) {
    this.#write = write;
  }

  async onEvent(e: BuildEvent): Promise<void> {
    switch (e.kind) {
      case "queued":
      case "started":
        return;
      case "compiled":
        this.#plan = e.plan;
        this.#steps = planSteps(e.plan);
        for (const s of this.#steps) for (const v of s.vertices) this.#byVertex.set(v, [...(this.#byVertex.get(v) ?? []), s]);
        return this.#advance();
      case "progress":
        return this.#progress(e.event);
      case "exported":
        return;
    }
  }

  async #progress(ev: ProgressEvent): Promise<void> {
    const steps = this.#byVertex.get(ev.vertex);
    if (steps === undefined) return;
    for (const s of steps) {
      switch (ev.kind) {
        case "vertex-started":
          s.started = true;
          s.executed = true;
          this.#earlierInStageNotNeeded(s);
          break;
        case "vertex-cached":
          s.started = true;
          this.#earlierInStageNotNeeded(s);
          break;
        case "vertex-completed":
          if (ev.sharedWith !== undefined) s.executed = true;
          break;
        case "vertex-errored":
          s.failed = true;
          break;
        case "vertex-canceled":
          break;
        case "status":
          if (s.keyword === "from" && !s.pulling) {
            s.pulling = true;
            this.#hold(s, { status: `Pulling from ${repoOf(this.#stageBase(s))}`, id: tagOf(this.#stageBase(s)) });
          }
          if (ev.status.completed !== undefined && s.keyword === "from") this.#hold(s, { status: "Pull complete", progressDetail: {}, id: ev.status.id.replace(/^sha256:/, "").slice(0, 12) });
          break;
        case "log":
          this.#hold(s, { stream: new TextDecoder().decode(ev.data) });
          break;
        case "log-elided":
          break;
      }
    }
    if (ev.kind === "vertex-completed" || ev.kind === "vertex-cached" || ev.kind === "vertex-errored" || ev.kind === "vertex-canceled") {
      for (const s of steps) s.done ||= [...s.vertices].every((v) => this.#vertexDone.has(v) || v === ev.vertex);
      this.#vertexDone.add(ev.vertex);
    }
    await this.#advance();
  }

  readonly #vertexDone = new Set<Digest>();
  readonly #messages = new Map<Step, JsonMessage[]>();

  #hold(s: Step, m: JsonMessage): void {
    const list = this.#messages.get(s) ?? [];
    const size = "stream" in m ? m.stream.length : 64;
    if (s.index !== this.#cursor && this.#held + size > MAX_HELD) {
      s.heldDropped += size;
      return;
    }
    if (s.index !== this.#cursor) this.#held += size;
    list.push(m);
    this.#messages.set(s, list);
  }

  /** Steps are a chain within a stage: once a later one runs or hits the cache, earlier ones are settled. */
  #earlierInStageNotNeeded(s: Step): void {
    for (const e of this.#steps) {
      if (e.index >= s.index) break;
      if (e.stage === s.stage && !e.done) e.done = true;
    }
  }

  #stageBase(s: Step): string {
    return this.#plan?.stages.find((st) => st.index === s.stage)?.base ?? "";
  }

  /** Prints what can be printed, in step order. */
  async #advance(final = false): Promise<void> {
    while (this.#cursor < this.#steps.length) {
      const s = this.#steps[this.#cursor] as Step;
      if (!s.headerPrinted) {
        s.headerPrinted = true;
        await this.#write({ stream: `Step ${s.index + 1}/${this.#steps.length} : ${s.text}\n` });
      }
      const metadata = s.vertices.size === 0;
      if (s.keyword === "run" && s.executed && !s.runningPrinted) {
        s.runningPrinted = true;
        await this.#write({ stream: ` ---> Running in ${s.container}\n` });
      }
      await this.#flush(s);
      if (!(metadata || s.done || final) || s.failed || s.endPrinted) return;
      s.endPrinted = true;
      const cached = metadata ? ClassicProgress.#seen.has(s.id) : !s.executed;
      if (s.keyword === "from") {
        // Nothing to say: the base image's ID follows.
        if (s.pulling) {
          const base = this.#stageBase(s);
          const digest = /@(sha256:[0-9a-f]{64})$/.exec(base)?.[1];
          if (digest !== undefined) await this.#write({ status: `Digest: ${digest}` });
          await this.#write({ status: `Status: Downloaded newer image for ${base.replace(/@sha256:[0-9a-f]{64}$/, "")}` });
        }
      } else if (cached) {
        await this.#write({ stream: " ---> Using cache\n" });
      } else if (s.keyword !== "copy" && s.keyword !== "add") {
        if (!s.runningPrinted) await this.#write({ stream: ` ---> Running in ${s.container}\n` });
        await this.#write({ stream: ` ---> Removed intermediate container ${s.container}\n` });
      }
      if (s.heldDropped > 0) await this.#write({ stream: `[${s.heldDropped} bytes of output not shown here: the build record keeps them]\n` });
      if (metadata) ClassicProgress.#remember(s.id);
      this.#cursor++;
      if (s.final && this.#cursor === this.#steps.length) {
        // The image's ID: printed once the image exists (finish()).
        this.#cursor--;
        s.done = true;
        return;
      }
      await this.#write({ stream: ` ---> ${short(s.id)}\n` });
    }
  }

  async #flush(s: Step): Promise<void> {
    const list = this.#messages.get(s);
    if (list === undefined) return;
    this.#messages.delete(s);
    for (const m of list) {
      if ("stream" in m) this.#held -= m.stream.length;
      await this.#write(m);
    }
    this.#held = Math.max(0, this.#held);
  }

  static #remember(id: string): void {
    ClassicProgress.#seen.add(id);
    if (ClassicProgress.#seen.size > 10_000) ClassicProgress.#seen.delete(ClassicProgress.#seen.values().next().value as string);
  }

  /**
   * After the build: the rest of the steps, then Docker's closing lines or its error. Returns the
   * error message to send, if the build did not complete.
   */
  async finish(result: BuildResult, unusedArgWarnings: readonly string[]): Promise<{ readonly code?: number; readonly message: string } | undefined> {
    if (result.kind !== "completed") {
      // Steps before the failure are printed as they ended; the failing one stays open.
      await this.#advanceUntilFailure();
      return failureMessage(result);
    }
    await this.#advance(true);
    const last = this.#steps[this.#cursor];
    const imageId = result.image?.id ?? "";
    if (last !== undefined && this.#cursor < this.#steps.length) {
      await this.#flush(last);
      await this.#write({ stream: ` ---> ${short(imageId)}\n` });
    }
    for (const w of unusedArgWarnings) await this.#write({ stream: `${w}\n` });
    if (imageId !== "") await this.#write({ aux: { ID: imageId } });
    await this.#write({ stream: `Successfully built ${short(imageId)}\n` });
    for (const t of result.tags) await this.#write({ stream: `Successfully tagged ${familiarTag(t)}\n` });
    return undefined;
  }

  async #advanceUntilFailure(): Promise<void> {
    for (const s of this.#steps) if (!s.failed && s.started && !s.done) s.done = !s.executed || s.keyword !== "run";
    await this.#advance();
  }
}

/** The steps of the build in Dockerfile order: meta ARGs, then every instruction of the stages built. */
export function planSteps(plan: BuildPlan): Step[] {
  const lineToVertices = new Map<number, Digest[]>();
  for (const v of plan.definition.vertices) {
    for (const loc of v.metadata.locations ?? []) {
      for (const r of loc.ranges) {
        const list = lineToVertices.get(r.start.line) ?? [];
        list.push(v.digest);
        lineToVertices.set(r.start.line, list);
      }
    }
  }
  const reachable = new Set(plan.stages.filter((s) => s.reachable).map((s) => s.index));
  const target = plan.stages.find((s) => s.name.toLowerCase() === plan.target.toLowerCase())?.index ?? Math.max(...reachable);
  const steps: Step[] = [];
  let stage = -1;
  const add = (ins: Instruction, st: number): void => {
    const vertices = new Set(ins.keyword === "from" || isFileOrRun(ins.keyword) ? (lineToVertices.get(ins.range.start.line) ?? []) : []);
    steps.push({
      index: steps.length,
      text: ins.original,
      keyword: ins.keyword.toLowerCase(),
      stage: st,
      final: false,
      vertices,
      started: false,
      executed: false,
      done: false,
      failed: false,
      headerPrinted: false,
      endPrinted: false,
      runningPrinted: false,
      pulling: false,
      heldDropped: 0,
      container: randomBytes(6).toString("hex"),
      id: "",
    });
  };
  for (const ins of plan.parsed.instructions) {
    if (ins.keyword.toLowerCase() === "from") stage++;
    if (stage < 0) {
      add(ins, -1);
      continue;
    }
    if (!reachable.has(stage) || stage > target) continue;
    add(ins, stage);
  }
  // Stable IDs per position in the chain (FROM: the base image; a stage built on another: its ID).
  let prev = "";
  for (const s of steps) {
    if (s.keyword === "from") {
      const base = plan.stages.find((st) => st.index === s.stage)?.base ?? "";
      const digest = /@(sha256:[0-9a-f]{64})$/.exec(base)?.[1];
      const byStage = steps.filter((o) => o.stage !== s.stage && plan.stages.find((st) => st.index === o.stage)?.name.toLowerCase() === base.toLowerCase()).at(-1);
      s.id = byStage?.id ?? (digest === undefined ? "" : (imageIdOf(plan, base) ?? ""));
    } else {
      s.id = `sha256:${createHash("sha256").update(`${prev}\n${s.stage}\n${s.text}`).digest("hex")}`;
    }
    prev = s.id;
  }
  const lastOfTarget = steps.filter((s) => s.stage === target).at(-1);
  if (lastOfTarget !== undefined) lastOfTarget.final = true;
  return steps;
}

function imageIdOf(plan: BuildPlan, base: string): string | undefined {
  const digest = /@(sha256:[0-9a-f]{64})$/.exec(base)?.[1];
  return digest === undefined ? undefined : plan.baseImages.get(digest as Digest);
}

function isFileOrRun(keyword: string): boolean {
  const k = keyword.toLowerCase();
  return k === "run" || k === "copy" || k === "add" || k === "workdir";
}

function short(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

function repoOf(ref: string): string {
  const name = ref.replace(/@sha256:[0-9a-f]{64}$/, "").replace(/:[^/:]+$/, "");
  return name.replace(/^docker\.io\//, "");
}

function tagOf(ref: string): string {
  const m = /:([^/:@]+)(?:@sha256:[0-9a-f]{64})?$/.exec(ref);
  return m?.[1] ?? "latest";
}

/** `x` → `x:latest`, `docker.io/library/x:1` → `x:1`: what Docker's tagger prints. */
export function familiarTag(name: string): string {
  let n = name.replace(/^docker\.io\/library\//, "").replace(/^docker\.io\//, "");
  const lastSlash = n.lastIndexOf("/");
  if (!n.slice(lastSlash + 1).includes(":") && !n.includes("@")) n = `${n}:latest`;
  return n;
}

function failureMessage(result: Exclude<BuildResult, { kind: "completed" }>): { readonly code?: number; readonly message: string } {
  switch (result.kind) {
    case "invalid":
      return { message: result.message };
    case "canceled":
      return { message: "Build cancelled" };
    case "failed": {
      const e: HtkError = stepError(result.error);
      if (e.id === "HTK-BUILD-0100") {
        const code = Number(e.params["code"]);
        return { code, message: `The command '${String(e.params["command"])}' returned a non-zero code: ${code}` };
      }
      return { message: `${e.plainCause} [${e.id}] ${e.nextStep}` };
    }
  }
}
