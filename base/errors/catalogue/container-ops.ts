import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/**
 * The container operations beyond the lifecycle core (engine/containers/exec.ts and the other
 * operation modules, engine/api/exec.ts, container-archive.ts, container-ops.ts): exec, cp/archive,
 * export, diff, commit, top, stats, pause/unpause, update and healthchecks. HTK-ENGINE-0500 … 0549
 * and 0630 … 0659.
 */
export const containerOpsDiagnostics = {
  "HTK-ENGINE-0500": {
    title: "Exec without a command",
    cause: "No exec command specified",
    next: "Give the command to run: docker exec CONTAINER COMMAND [ARG...].",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0501": {
    title: "Invalid exec detach keys",
    cause: "Invalid escape keys ({keys}) provided",
    next: "Write --detach-keys as a comma-separated list of a letter or ctrl-<key> (ctrl-a … ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_).",
    // Docker's error has no class here, so its API answers 500.
    http: 500,
    dockerText: true,
  },
  "HTK-ENGINE-0502": {
    title: "Exec instance already ran",
    cause: "Error: Exec command {id} has already run",
    next: "An exec instance runs once; create a new one (docker exec runs a new instance every time).",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0503": {
    title: "Exec instance already running",
    cause: "Error: Exec command {id} is already running",
    next: "Wait for it to end, or create a new exec instance.",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0504": {
    title: "Exec command cannot be run",
    cause: "OCI runtime exec failed: exec failed: unable to start container process: {reason}: unknown",
    next: "Check the command: the program must exist in the container (on its PATH) and be executable.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0505": {
    title: "ps argument not allowed",
    cause: 'specifying "{key}={value}" is not allowed',
    next: "Keep the PID column for docker top: rename other columns, not PID (-o pid=PID is fine).",
    http: 500,
    dockerText: true,
  },
  "HTK-ENGINE-0506": {
    title: "No PID column in ps output",
    cause: "Couldn't find PID field in ps output",
    next: "Keep the PID column in the ps options given to docker top (for example -o pid,comm).",
    http: 500,
    dockerText: true,
  },
  "HTK-ENGINE-0507": {
    title: "ps failed",
    // Docker passes the first line of ps's error output on as the whole message.
    cause: "{psErrorLine}",
    next: "Check the ps options given to docker top (they are passed to the host's ps, procps' syntax).",
    http: 500,
    dockerText: true,
  },
  "HTK-ENGINE-0508": {
    title: "Pause or unpause failed",
    cause: "Cannot {action} container {id}: {detail}",
    next: "Check that the container still runs (docker ps); the engine's log has the runtime's message.",
    http: 500,
    dockerText: true,
  },
  "HTK-ENGINE-0509": {
    title: "Stats: stream and one-shot",
    cause: "cannot have stream=true and one-shot=true",
    next: "Ask for one-shot=true with stream=false (or leave one-shot out when streaming).",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0510": {
    title: "Update conflicts with the container's settings",
    cause: "Cannot update container {id}: {detail}",
    next: "Update the conflicting settings together (for example --memory with --memory-swap), or recreate the container.",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0511": {
    title: "Update failed",
    cause: "Cannot update container {id}: {detail}",
    next: "Check the new limits against what the container uses now; the engine's log has the runtime's message.",
    http: 500,
    dockerText: true,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
