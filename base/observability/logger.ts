import { trace } from "@opentelemetry/api";
import { pino, type Logger, type LoggerOptions, type DestinationStream } from "pino";

export type { Logger } from "pino";

/**
 * The logger options every process of ours uses: JSON lines, `time` as ISO-8601, and the active
 * OpenTelemetry span's `trace_id` and `span_id` on every line written inside a span, so a log line can
 * always be joined to its trace (API request → solver → vertex → runtime).
 */
export function loggerOptions(level: string = process.env["HATAKE_LOG_LEVEL"] ?? "info"): LoggerOptions {
  return {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: "msg",
    formatters: { level: (label) => ({ level: label }) },
    mixin() {
      const span = trace.getActiveSpan();
      if (span === undefined) return {};
      const ctx = span.spanContext();
      return { trace_id: ctx.traceId, span_id: ctx.spanId };
    },
  };
}

/**
 * A new root logger, on stderr unless told otherwise (stdout belongs to command output). Writes are
 * synchronous so nothing is lost when the process exits; nothing on a hot path logs at info level.
 */
export function createLogger(destination?: DestinationStream, level?: string): Logger {
  return pino(loggerOptions(level), destination ?? pino.destination({ fd: 2, sync: true }));
}

let processLogger: Logger | undefined;

/**
 * The process's logger. Writes to stderr (stdout belongs to command output). Replace it once at start-up
 * with {@link setRootLogger} (the daemon points it at its log file).
 */
export function rootLogger(): Logger {
  processLogger ??= createLogger();
  return processLogger;
}

export function setRootLogger(logger: Logger): void {
  processLogger = logger;
}
