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
  "HTK-ENGINE-0512": {
    title: "Archive path missing",
    // Docker's text, its missing space included.
    cause: "bad parameter: {param}cannot be empty",
    next: "Give the path in the container as the path query parameter (docker cp CONTAINER:PATH …).",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0513": {
    title: "No such file in the container",
    cause: "Could not find the file {path} in container {name}",
    next: "Check the path (docker exec CONTAINER ls, or docker diff CONTAINER); paths are taken from the container's root.",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0514": {
    title: "Extraction point not a directory",
    cause: "extraction point is not a directory",
    next: "Give a directory of the container as the destination of the copy (or copy onto the file's parent directory).",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0515": {
    title: "Read-only root file system",
    cause: "container rootfs is marked read-only",
    next: "The container runs with --read-only: copy into one of its volumes or a tmpfs, or recreate it without --read-only.",
    http: 403,
    dockerText: true,
  },
  "HTK-ENGINE-0516": {
    title: "Read-only volume",
    cause: "mounted volume is marked read-only",
    next: "The destination is in a volume or bind mount mounted read-only (:ro): copy elsewhere, or mount it read-write.",
    http: 403,
    dockerText: true,
  },
  "HTK-ENGINE-0517": {
    title: "Directory in the way",
    cause: 'cannot overwrite directory "{path}" with non-directory "{dest}"',
    next: "The archive has a file where the container has a directory: copy to another destination, or remove the directory first.",
    http: 500,
    dockerText: true,
  },
  "HTK-ENGINE-0518": {
    title: "File in the way",
    cause: 'cannot overwrite non-directory "{path}" with directory "{dest}"',
    next: "The archive has a directory where the container has a file: copy to another destination, or remove the file first.",
    http: 500,
    dockerText: true,
  },
  "HTK-ENGINE-0519": {
    title: "Archive entry outside the destination",
    cause: '"{name}" is outside of "{dest}"',
    next: "The archive names a path above the directory it is extracted into; make the archive with relative names inside it.",
    http: 500,
    dockerText: true,
  },
  "HTK-ENGINE-0520": {
    title: "Archive link outside the destination",
    cause: 'invalid {kind} "{path}" -> "{target}"',
    next: "The archive has a link that leads out of the directory it is extracted into; make the archive without it.",
    http: 500,
    dockerText: true,
  },
  "HTK-ENGINE-0521": {
    title: "Archive unreadable",
    cause: "The archive sent to the container could not be read: {detail}.",
    next: "Send a tar archive (plain, gzip, bzip2, xz or zstd), complete with its end-of-archive blocks.",
    http: 500,
  },
  "HTK-ENGINE-0522": {
    title: "Too many symbolic links",
    cause: "Resolving {path} in the container followed more than 255 symbolic links.",
    next: "The path leads through a loop of symbolic links in the container; give a path without one.",
    http: 400,
  },
  "HTK-ENGINE-0523": {
    title: "Files not written into the container",
    cause: "The files could not be written into the container: {detail}.",
    next: "Check the destination in the container (free space, a read-only mount, permissions); the engine's log has the details.",
    http: 500,
  },
  "HTK-ENGINE-0524": {
    title: "Container cannot be committed",
    cause: "You cannot commit container {id} {why}",
    next: "Commit a container that is not being removed (docker ps -a shows its state).",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0525": {
    title: "Container's image is gone",
    cause: "The image {image} of container {id} is no longer in the image store, so the commit has no parent to build on.",
    next: "Pull or load the image again (docker inspect shows which one), then commit.",
    http: 404,
  },
  "HTK-ENGINE-0860": {
    title: "Not a websocket request",
    cause: "GET {path} attaches over a websocket, and the request did not ask for one: {detail}.",
    next: "Open it with a websocket client (Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Key, Sec-WebSocket-Version: 13), or use POST /containers/ID/attach (the hijacked stream).",
    http: 400,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
