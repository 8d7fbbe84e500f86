import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/**
 * ENGINE system resources (engine/api system-info, events, volumes, networks; engine/volumes and
 * engine/networks): HTK-ENGINE-0450 … 0499.
 *
 * Entries marked `dockerText` start with Docker Engine 26.1's exact message (clients and scripts match on
 * it). Where Docker's text has no final punctuation a full stop is added (the catalogue's sentence rule);
 * Docker's text stays an exact prefix of the message the API sends.
 */
export const systemResourceDiagnostics = {
  "HTK-ENGINE-0450": {
    title: "Invalid JSON body",
    cause: "invalid JSON: {detail}.",
    next: "Send the request body as one JSON object of the shape the Engine API v1.45 defines for this endpoint.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0451": {
    title: "Unsupported request content type",
    cause: "unsupported Content-Type header ({type}): must be 'application/json'.",
    next: "Send the body with Content-Type: application/json.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0452": {
    title: "Request body too large",
    cause: "The request body is larger than the {limit} bytes this endpoint accepts.",
    next: "Send a smaller body; this endpoint takes a small JSON object.",
    http: 413,
  },
  "HTK-ENGINE-0453": {
    title: "Unknown volume driver",
    cause: "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found.",
    next: "Use the local driver (the only one this engine has): leave --driver out or pass --driver local.",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0454": {
    title: "Volume name too short",
    cause: "create {name}: volume name is too short, names should be at least two alphanumeric characters.",
    next: "Use a name of at least two characters, or an absolute path for a bind mount.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0455": {
    title: "Invalid volume name",
    cause: "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path.",
    next: "Use letters, digits, \"_\", \".\" and \"-\" (starting with a letter or digit), or an absolute path for a bind mount.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0456": {
    title: "Unknown volume option",
    cause: "create {name}: invalid option: \"{option}\"",
    next: "The local driver takes the options type, o, device and size (e.g. --opt type=none --opt o=bind --opt device=/path).",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0457": {
    title: "Volume option missing",
    cause: "create {name}: missing required option: \"{option}\"",
    next: "The local driver needs type and device together, and o only with both (e.g. --opt type=tmpfs --opt device=tmpfs --opt o=size=100m).",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0458": {
    title: "Volume size quota unsupported",
    cause: "create {name}: quota size requested but no quota support.",
    next: "Leave out the size option: the engine's data root has no project quota support (XFS with prjquota).",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0459": {
    title: "Prune already running",
    cause: "a prune operation is already running.",
    next: "Wait for the running prune to finish, then retry.",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0460": {
    title: "Invalid prune filter value",
    cause: "invalid filter 'all': strconv.ParseBool: parsing \"{value}\": invalid syntax.",
    next: "Use all=true or all=false (docker volume prune --all).",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0461": {
    title: "Repeated prune filter",
    cause: "invalid filter 'all=[{values}]': only one value is expected.",
    next: "Give the all filter once.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0462": {
    title: "Volume update without swarm",
    cause: "volume update only valid for cluster volumes, but swarm is unavailable.",
    next: "Local volumes cannot be updated; create a new volume with the settings you need.",
    http: 503,
    dockerText: true,
  },
  "HTK-ENGINE-0463": {
    title: "Volume directory failure",
    cause: "The directory of volume {name} at {path} could not be {action}: {detail}.",
    next: "Check that the engine's data root is writable and has space, then retry.",
    http: 500,
  },
  "HTK-ENGINE-0464": {
    title: "Invalid event time window",
    cause: "`since` time ({since}) cannot be after `until` time ({until}).",
    next: "Give an until time later than the since time.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0465": {
    title: "Invalid timestamp",
    cause: "The {param} value \"{value}\" is not a timestamp: expected Unix seconds with an optional fraction (1700000000.5).",
    next: "Send Unix seconds (the docker CLI converts durations and dates to them).",
    http: 400,
  },
  "HTK-ENGINE-0490": {
    title: "Invalid volume size",
    cause: "create {name}: invalid size: '{value}'.",
    next: "Give the size as a number with an optional unit (100m, 1g).",
    http: 400,
    dockerText: true,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
