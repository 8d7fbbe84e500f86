import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/**
 * RUNTIME: the OCI runtime layer (engine/runtime): runtime specs and running containers with crun.
 * HTK-RUNTIME-0001 lives in build.ts (it predates this file); these are numbered from 0100.
 */
export const runtimeDiagnostics = {
  "HTK-RUNTIME-0100": {
    title: "Container runtime not found",
    cause: "The container runtime \"{binary}\" could not be started: {detail}.",
    next: "Install it (Debian: apt-get install {aptPackage}) or point the engine at another OCI runtime with --default-runtime.",
    http: 500,
  },
  "HTK-RUNTIME-0101": {
    title: "Container failed to start",
    cause: "The container \"{id}\" could not be started: {detail}.",
    next: "Check the command, the image's filesystem and the limits given; the runtime's own message is attached as the cause.",
    http: 500,
  },
  "HTK-RUNTIME-0102": {
    title: "User or group not in the image",
    cause: "unable to find {kind} {name}: no matching entries in {file}",
    next: "Use a numeric id, or create the {kind} in the image (for example with adduser).",
    http: 400,
    dockerText: true,
  },
  "HTK-RUNTIME-0103": {
    title: "Out of memory",
    cause: "The container \"{id}\" was killed by the kernel because it used more memory than its limit ({limit}).",
    next: "Raise the memory limit (--memory) or make the process use less memory.",
    http: 500,
  },
  "HTK-RUNTIME-0104": {
    title: "Invalid container setting",
    cause: "The {setting} value \"{value}\" is not valid: {reason}.",
    next: "Correct the value; the Docker documentation of the matching docker run option lists the accepted forms.",
    http: 400,
  },
  "HTK-RUNTIME-0105": {
    title: "Runtime command failed",
    cause: "The runtime command \"{command}\" failed ({status}): {detail}.",
    next: "Check that the container exists and is in a state that allows this; the runtime's message says more.",
    http: 500,
  },
  "HTK-RUNTIME-0106": {
    title: "No such container in the runtime",
    cause: "The runtime has no container \"{id}\".",
    next: "It has exited and been removed already, or it was never started; list the running containers to see what exists.",
    http: 404,
  },
  "HTK-RUNTIME-0107": {
    title: "Terminal not available",
    cause: "A terminal (TTY) was requested for \"{id}\", but {detail}.",
    next: "Run without a terminal (no -t), or install python3, which the terminal relay needs.",
    http: 500,
  },
  "HTK-RUNTIME-0320": {
    title: "No address for a build step's network",
    cause: "The build network {subnet} has no free address or subnet left for another RUN step with network default.",
    next: "Run fewer steps at once, or free a /24 of 10.10.0.0/16 on this host (ip -4 route shows what uses it).",
    http: 500,
  },
  "HTK-RUNTIME-0321": {
    title: "Build step network could not be made",
    cause: "The bridge, namespace or iptables rules for a RUN step with network default could not be made: {detail}.",
    next: "Check that ip and iptables work here (root, the bridge and veth kernel modules); RUN --network=none needs neither.",
    http: 500,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
