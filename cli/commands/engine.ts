import { createLogger, initTracing } from "../../base/observability/index.ts";
import { resolveConfig, startDaemon } from "../../engine/index.ts";
import { parseOptions } from "../options.ts";
import type { Command } from "../types.ts";
import { productVersion } from "../version-info.ts";

const HELP = `Usage: hatake engine [OPTIONS]

Runs the HATAKE engine: a Docker Engine API v1.45 daemon. Options are named as dockerd names them.

Options:
      --config-file string             Daemon configuration file (JSON, dockerd's keys)
      --data-root string               Root directory of persistent state (default /var/lib/hatake)
  -H, --host list                      Address to serve: unix:///path or tcp://127.0.0.1:PORT (repeatable)
  -p, --pidfile string                 Path to write the daemon's PID to
  -l, --log-level string               debug, info, warn, error or fatal (default "info")
      --insecure-registry list         Registry reached over plain HTTP (repeatable)
      --registry-mirror list           Preferred mirror for docker.io (repeatable)
      --default-runtime string         OCI runtime for containers (default "crun")
      --max-concurrent-downloads int   Parallel layer downloads per pull (default 3)
      --max-concurrent-uploads int     Parallel layer uploads per push (default 5)
      --max-parallel-builds int        Builds solved at the same time (default 4)
      --shutdown-timeout int           Seconds containers get to stop when the engine shuts down
                                       (default 15)
      --tls                            Serve TCP addresses over TLS; implied by --tlsverify
      --tlsverify                      Use TLS and verify the client (mutual TLS; other than loopback
                                       TCP addresses need it)
      --tlscacert string               Trust certs signed only by this CA (default ~/.docker/ca.pem)
      --tlscert string                 Path to TLS certificate file (default ~/.docker/cert.pem)
      --tlskey string                  Path to TLS key file (default ~/.docker/key.pem)

Logs are JSON lines on stderr, with trace_id on every line written inside a request.
Traces go to HATAKE_TRACE_FILE (JSON lines) or OTEL_EXPORTER_OTLP_ENDPOINT when set.
`;

export const engineCommand: Command = {
  name: "engine",
  summary: "Run the engine (the Docker Engine API daemon)",
  help: HELP,
  async run(args, io) {
    const { values } = parseOptions("engine", args, {
      "config-file": { type: "string" },
      "data-root": { type: "string" },
      host: { type: "string", short: "H", multiple: true },
      pidfile: { type: "string", short: "p" },
      "log-level": { type: "string", short: "l" },
      "insecure-registry": { type: "string", multiple: true },
      "registry-mirror": { type: "string", multiple: true },
      "default-runtime": { type: "string" },
      "max-concurrent-downloads": { type: "string" },
      "max-concurrent-uploads": { type: "string" },
      "max-parallel-builds": { type: "string" },
      "shutdown-timeout": { type: "string" },
      tls: { type: "boolean" },
      tlsverify: { type: "boolean" },
      tlscacert: { type: "string" },
      tlscert: { type: "string" },
      tlskey: { type: "string" },
    });
    const { config, unknownFileKeys } = resolveConfig(
      {
        configFile: values["config-file"],
        dataRoot: values["data-root"],
        hosts: values.host,
        pidfile: values.pidfile,
        logLevel: values["log-level"],
        insecureRegistries: values["insecure-registry"],
        registryMirrors: values["registry-mirror"],
        defaultRuntime: values["default-runtime"],
        maxConcurrentDownloads: values["max-concurrent-downloads"],
        maxConcurrentUploads: values["max-concurrent-uploads"],
        maxParallelBuilds: values["max-parallel-builds"],
        shutdownTimeout: values["shutdown-timeout"],
        tls: values.tls,
        tlsVerify: values.tlsverify,
        tlsCaCert: values.tlscacert,
        tlsCert: values.tlscert,
        tlsKey: values.tlskey,
      },
      io.env,
    );
    const log = createLogger(undefined, config.logLevel).child({ component: "engine" });
    for (const key of unknownFileKeys) log.warn({ key, compat: true }, `ignored unknown configuration key "${key}"`);
    const tracing = await initTracing("hatake-engine");
    const daemon = await startDaemon(config, { version: productVersion(), gitCommit: "" }, log);
    io.stderr.write(`hatake engine ${productVersion()} serving ${daemon.addresses.join(", ")}\n`);
    const onAbort = (): void => void daemon.stop();
    if (io.signal.aborted) onAbort();
    else io.signal.addEventListener("abort", onAbort, { once: true });
    await daemon.stopped;
    await tracing.shutdown();
    return 0;
  },
};
