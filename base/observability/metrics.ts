import { Registry, collectDefaultMetrics } from "prom-client";

export { Counter, Gauge, Histogram, Summary } from "prom-client";

/**
 * The process's Prometheus registry (not prom-client's global one, so tests and several engines in one
 * process stay apart). Components register their metrics here with `registers: [metricsRegistry()]`;
 * the engine serves `renderMetrics()` at `GET /metrics`.
 */
let registry: Registry | undefined;

export function metricsRegistry(): Registry {
  if (registry === undefined) {
    registry = new Registry();
    registry.setDefaultLabels({ service: "hatake" });
    collectDefaultMetrics({ register: registry, prefix: "hatake_" });
  }
  return registry;
}

/** The Prometheus text exposition format, and its content type for the HTTP response. */
export async function renderMetrics(): Promise<{ contentType: string; body: string }> {
  const r = metricsRegistry();
  return { contentType: r.contentType, body: await r.metrics() };
}
