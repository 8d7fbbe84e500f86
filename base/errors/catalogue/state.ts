import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/**
 * ENGINE state (engine/state/): the SQLite store, the container lifecycle and the lookups by name or ID.
 *
 * Entries marked `dockerText` start with Docker Engine 26.1's exact message (clients and scripts match on
 * it). Where Docker's text has no final punctuation the catalogue adds a full stop (its sentence rule);
 * Docker's text stays an exact prefix of the message the API sends.
 *
 * Retired, never to be reused: HTK-ENGINE-0121 ("No such image", superseded by the image store's
 * HTK-ENGINE-0200 once image metadata moved to engine/images).
 */
export const stateDiagnostics = {
  "HTK-ENGINE-0100": {
    title: "State database corrupt",
    cause: "The engine's state database {path} failed its integrity check: {detail}.",
    next: "The engine never replaces it on its own. Stop the engine, keep a copy of {path}, then recover it (sqlite3 {path} .recover) or move it aside to start with empty state.",
    http: 500,
  },
  "HTK-ENGINE-0101": {
    title: "State database from a newer engine",
    cause: "The state database {path} has schema version {found}; this engine knows versions up to {known}.",
    next: "Run the newer HATAKE engine that wrote it, or start this one with a different --data-root.",
    http: 500,
  },
  "HTK-ENGINE-0102": {
    title: "Record checksum mismatch",
    cause: "The stored {kind} record {key} does not match its checksum (expected sha256 {expected}, found {actual}).",
    next: "The record was changed outside the engine or damaged on disk. Keep a copy of the state database and remove or re-create the {kind}.",
    http: 500,
  },
  "HTK-ENGINE-0103": {
    title: "No such container",
    cause: "No such container: {name}",
    next: "Check the name or ID with \"docker ps -a\".",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0104": {
    title: "Container name in use",
    cause: "Conflict. The container name \"{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.",
    next: "Choose another name, or remove or rename container {id} first.",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0105": {
    title: "Ambiguous container ID prefix",
    cause: "multiple IDs found with provided prefix: {prefix}",
    next: "Give more characters of the ID, or use the container's name.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0106": {
    title: "Invalid container name",
    cause: "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed.",
    next: "Use at least two characters: a letter or digit, then letters, digits, \"_\", \".\" or \"-\".",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0107": {
    title: "Container not running",
    cause: "Container {id} is not running.",
    next: "Start it first (docker start {id}).",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0108": {
    title: "Container already paused",
    cause: "Container {id} is already paused.",
    next: "Unpause it with docker unpause {id}.",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0109": {
    title: "Container not paused",
    cause: "Container {id} is not paused.",
    next: "Only a paused container can be unpaused; check its state with docker inspect {id}.",
    // Docker answers 500 here (its unpause error carries no errdefs class).
    http: 500,
    dockerText: true,
  },
  "HTK-ENGINE-0110": {
    title: "Container restarting",
    cause: "Container {id} is restarting, wait until the container is running.",
    next: "Wait for the restart to finish, or stop the container (docker stop {id}).",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0111": {
    title: "Cannot start a paused container",
    cause: "cannot start a paused container, try unpause instead.",
    next: "Run docker unpause {id}.",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0112": {
    title: "Container marked for removal",
    cause: "container is marked for removal and cannot be started.",
    next: "Remove it (docker rm -f {id}) and create a new container.",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0113": {
    title: "Cannot remove a running container",
    cause: "cannot remove container \"{name}\": container is {state}: {procedure}.",
    next: "Stop it first (docker stop {id}) or remove it with force (docker rm -f {id}).",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0114": {
    title: "Removal already in progress",
    cause: "removal of container {name} is already in progress.",
    next: "Wait for the removal to finish.",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0115": {
    title: "Container changed state concurrently",
    cause: "Container {id} changed state while \"{action}\" was in progress (expected \"{expected}\", found \"{actual}\").",
    next: "Retry the command; another request changed the container first.",
    http: 409,
  },
  "HTK-ENGINE-0116": {
    title: "Invalid filter",
    cause: "invalid filter '{filter}'.",
    next: "Use one of the filters this endpoint accepts: {accepted}.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0117": {
    title: "Unrecognised filter value",
    cause: "Unrecognised filter value for {filter}: {value}",
    next: "Use one of: {accepted}.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0118": {
    title: "Event subscriber too slow",
    cause: "The event stream fell {buffered} events behind and was closed so the engine's memory stays bounded.",
    next: "Read events faster, or reconnect with since= set to the last event's time to resume.",
    http: 503,
  },
  "HTK-ENGINE-0119": {
    title: "No such exec instance",
    cause: "No such exec instance: {id}",
    next: "Exec instances end with their container; create a new one with docker exec.",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0120": {
    title: "Rename to the same name",
    cause: "Renaming a container with the same name as its current name.",
    next: "Choose a different name.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0122": {
    title: "No such volume",
    cause: "get {name}: no such volume",
    next: "Check the name with docker volume ls.",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0123": {
    title: "Volume in use",
    cause: "remove {name}: volume is in use - [{containers}]",
    next: "Remove the containers that use it first, or keep the volume.",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0124": {
    title: "No such network",
    cause: "network {name} not found",
    next: "Check the name or ID with docker network ls.",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0125": {
    title: "Network name in use",
    cause: "network with name {name} already exists",
    next: "Choose another name, or remove the existing network first.",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0126": {
    title: "Network has active endpoints",
    cause: "error while removing network: network {name} id {id} has active endpoints",
    next: "Disconnect or remove the containers attached to it first (docker network inspect {name}).",
    http: 403,
    dockerText: true,
  },
  "HTK-ENGINE-0127": {
    title: "Container paused",
    cause: "Container {id} is paused, unpause the container before exec.",
    next: "Run docker unpause {id}.",
    http: 409,
    dockerText: true,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
