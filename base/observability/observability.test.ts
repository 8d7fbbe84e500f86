import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it } from "vitest";
import { htkError } from "../errors/index.ts";
import { createLogger, currentTraceId, initTracing, renderMetrics, Counter, metricsRegistry, withSpan, type TracingHandle } from "./index.ts";

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString("utf8"));
      cb();
    },
  });
  return { stream, lines: () => chunks.join("").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

let handle: TracingHandle | undefined;
afterEach(async () => {
  await handle?.shutdown();
  handle = undefined;
});

describe("withSpan", () => {
  it("nests spans and puts trace_id/span_id on every log line inside them", async () => {
    const exporter = new InMemorySpanExporter();
    handle = await initTracing("test", { kind: "memory", exporter });
    const out = capture();
    const log = createLogger(out.stream, "debug");
    let outerTrace = "";
    await withSpan("api.request", { "http.route": "/build" }, async (outer) => {
      outerTrace = outer.traceId;
      outer.log.info("request");
      await withSpan("solver.vertex", { vertex: "sha256:abc" }, async (inner) => {
        await new Promise((r) => setTimeout(r, 1));
        inner.log.info("running");
        expect(currentTraceId()).toBe(outerTrace);
      }, log);
    }, log);
    const lines = out.lines();
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l["trace_id"]).toBe(outerTrace);
    expect(lines[0]?.["span_id"]).not.toBe(lines[1]?.["span_id"]);
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(["solver.vertex", "api.request"]);
    expect(spans[0]?.parentSpanContext?.spanId).toBe(spans[1]?.spanContext().spanId);
  });

  it("marks errors with their diagnostic ID and cancellation as not an error", async () => {
    const exporter = new InMemorySpanExporter();
    handle = await initTracing("test", { kind: "memory", exporter });
    const log = createLogger(capture().stream);
    await expect(
      withSpan("failing", {}, () => {
        throw htkError("HTK-CLI-0001", { command: "x", suggestion: "" });
      }, log),
    ).rejects.toThrow("HTK-CLI-0001");
    const c = new AbortController();
    c.abort();
    await expect(withSpan("cancelled", {}, () => Promise.reject(c.signal.reason as Error), log)).rejects.toThrow();
    const [failing, cancelled] = exporter.getFinishedSpans();
    expect(failing?.status.code).toBe(2);
    expect(failing?.attributes["hatake.error.id"]).toBe("HTK-CLI-0001");
    expect(cancelled?.status.code).toBe(0);
    expect(cancelled?.attributes["hatake.cancelled"]).toBe(true);
  });

  it("exports spans to a JSON-lines file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "htk-trace-"));
    try {
      const path = join(dir, "spans.jsonl");
      handle = await initTracing("test", { kind: "file", path });
      await withSpan("one", { a: 1 }, () => 1, createLogger(capture().stream));
      await handle.shutdown();
      handle = undefined;
      const span = JSON.parse(readFileSync(path, "utf8").trim()) as Record<string, unknown>;
      expect(span).toMatchObject({ name: "one", status: "ok", attributes: { a: 1 } });
      expect(span["trace_id"]).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("metrics", () => {
  it("renders registered metrics in the Prometheus text format", async () => {
    const c = new Counter({ name: "hatake_test_events_total", help: "events seen by the test", registers: [metricsRegistry()] });
    c.inc(3);
    const { contentType, body } = await renderMetrics();
    expect(contentType).toContain("text/plain");
    expect(body).toContain('hatake_test_events_total{service="hatake"} 3');
    expect(body).toContain("hatake_process_cpu_seconds_total");
  });
});
