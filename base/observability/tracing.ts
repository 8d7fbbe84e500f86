import { createWriteStream, type WriteStream } from "node:fs";
import { SpanStatusCode, trace, context, type Attributes, type Span, type Tracer } from "@opentelemetry/api";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { isCancellation, isHtkError } from "../errors/index.ts";
import { rootLogger, type Logger } from "./logger.ts";

/** Where finished spans go. `none` still creates real spans (trace IDs in logs), it only exports nothing. */
export type TraceExport =
  | { readonly kind: "none" }
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "otlp"; readonly url: string }
  | { readonly kind: "memory"; readonly exporter: SpanExporter };

export interface TracingHandle {
  /** Flushes pending spans and stops the provider. */
  shutdown(): Promise<void>;
}

/**
 * Reads the export target from the environment: `HATAKE_TRACE_FILE=/path/spans.jsonl` or
 * `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318` (the OpenTelemetry standard variable).
 */
export function traceExportFromEnv(env: NodeJS.ProcessEnv = process.env): TraceExport {
  const file = env["HATAKE_TRACE_FILE"];
  if (file !== undefined && file !== "") return { kind: "file", path: file };
  const otlp = env["OTEL_EXPORTER_OTLP_ENDPOINT"];
  if (otlp !== undefined && otlp !== "") return { kind: "otlp", url: `${otlp.replace(/\/$/, "")}/v1/traces` };
  return { kind: "none" };
}

let active: { provider: NodeTracerProvider } | undefined;

/**
 * Installs the process-wide tracer provider (with the AsyncLocalStorage context manager, so the active
 * span follows async work). Call once at start-up; calling again replaces the previous set-up.
 */
export async function initTracing(serviceName: string, target: TraceExport = traceExportFromEnv()): Promise<TracingHandle> {
  if (active !== undefined) {
    await active.provider.shutdown();
    trace.disable();
    context.disable();
  }
  const spanProcessors: SpanProcessor[] = [];
  switch (target.kind) {
    case "none":
      break;
    case "file":
      spanProcessors.push(new BatchSpanProcessor(new JsonLinesSpanExporter(target.path)));
      break;
    case "otlp":
      spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: target.url })));
      break;
    case "memory":
      spanProcessors.push(new SimpleSpanProcessor(target.exporter));
      break;
    default:
      assertNever(target);
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": serviceName }),
    spanProcessors,
  });
  provider.register();
  active = { provider };
  return {
    async shutdown() {
      if (active?.provider !== provider) return;
      active = undefined;
      await provider.shutdown();
      trace.disable();
      context.disable();
    },
  };
}

export function tracer(): Tracer {
  return trace.getTracer("hatake");
}

/** What `withSpan` hands to its body: the span and a logger whose lines carry its trace and span IDs. */
export interface SpanScope {
  readonly span: Span;
  readonly log: Logger;
  readonly traceId: string;
}

/**
 * The one way to run work inside a span and log in it. The span becomes active for everything the body
 * awaits (child spans nest under it, log lines carry its IDs); it ends when the body settles. A thrown
 * HtkError marks the span as an error with its diagnostic ID; cancellation is recorded as such and is
 * not an error.
 */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  body: (scope: SpanScope) => Promise<T> | T,
  log: Logger = rootLogger(),
): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    const traceId = span.spanContext().traceId;
    const scope: SpanScope = { span, traceId, log: log.child({ span: name }) };
    try {
      const result = await body(scope);
      span.setStatus({ code: SpanStatusCode.OK });
      return result;
    } catch (err) {
      if (isCancellation(err)) {
        span.setAttribute("hatake.cancelled", true);
      } else {
        if (isHtkError(err)) span.setAttribute("hatake.error.id", err.id);
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      }
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The trace ID of the active span, if any (for error reports: HTK-CORE-0001 names it). */
export function currentTraceId(): string | undefined {
  return trace.getActiveSpan()?.spanContext().traceId;
}

/** Writes finished spans as JSON lines; one object per span, OTLP-like field names. */
export class JsonLinesSpanExporter implements SpanExporter {
  readonly #out: WriteStream;

  constructor(path: string) {
    this.#out = createWriteStream(path, { flags: "a" });
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const text = spans.map((s) => JSON.stringify(spanToJson(s))).join("\n") + "\n";
    this.#out.write(text, (err) => done({ code: err ? ExportResultCode.FAILED : ExportResultCode.SUCCESS, ...(err ? { error: err } : {}) }));
  }

  async shutdown(): Promise<void> {
    await new Promise<void>((resolve) => this.#out.end(resolve));
  }
}

export function spanToJson(s: ReadableSpan): Record<string, unknown> {
  const ctx = s.spanContext();
  return {
    name: s.name,
    trace_id: ctx.traceId,
    span_id: ctx.spanId,
    parent_span_id: s.parentSpanContext?.spanId,
    start: hrTimeToIso(s.startTime),
    duration_ms: s.duration[0] * 1e3 + s.duration[1] / 1e6,
    status: s.status.code === SpanStatusCode.ERROR ? "error" : s.status.code === SpanStatusCode.OK ? "ok" : "unset",
    attributes: s.attributes,
  };
}

function hrTimeToIso([sec, nanos]: [number, number]): string {
  return new Date(sec * 1e3 + nanos / 1e6).toISOString();
}

function assertNever(x: never): never {
  throw new Error(`unexpected value ${JSON.stringify(x)}`);
}
