export { createLogger, loggerOptions, rootLogger, setRootLogger, type Logger } from "./logger.ts";
export {
  initTracing,
  traceExportFromEnv,
  tracer,
  withSpan,
  currentTraceId,
  JsonLinesSpanExporter,
  spanToJson,
  type SpanScope,
  type TraceExport,
  type TracingHandle,
} from "./tracing.ts";
export { metricsRegistry, renderMetrics, Counter, Gauge, Histogram, Summary } from "./metrics.ts";
