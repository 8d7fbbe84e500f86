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
  "HTK-RUNTIME-0300": {
    title: "Git remote unreachable",
    cause: "The git repository \"{url}\" could not be reached: {detail}.",
    next: "Check the host name and that the engine's machine reaches it (DNS, proxy, firewall); the URL is fetched by the engine, not by the client.",
    http: 400,
  },
  "HTK-RUNTIME-0301": {
    title: "Git repository not found",
    cause: "There is no git repository at \"{url}\": {detail}.",
    next: "Check the repository's URL (a path ending in .git for http(s)); a private repository may also answer like this without credentials.",
    http: 400,
  },
  "HTK-RUNTIME-0302": {
    title: "Git authentication failed",
    cause: "The git repository \"{url}\" refused access: {detail}.",
    next: "Give the engine credentials for it (a token in the URL, a git credential helper or an SSH key of the user the engine runs as), or use a public URL.",
    http: 400,
  },
  "HTK-RUNTIME-0303": {
    title: "Git ref not found",
    cause: "The git repository \"{url}\" has no branch, tag or commit \"{ref}\".",
    next: "Check the ref after '#' (git ls-remote URL lists branches and tags); a commit must be given as its full 40-character SHA.",
    http: 400,
  },
  "HTK-RUNTIME-0304": {
    title: "Git command failed",
    cause: "{command} for the git repository \"{url}\" failed: {detail}.",
    next: "Run the same git command against the repository by hand to see why; the build can be retried once it works.",
    http: 500,
  },
  "HTK-RUNTIME-0305": {
    title: "Git subdirectory not found",
    cause: "The subdirectory \"{subdir}\" of the git repository \"{url}\" at {commit} cannot be used: {detail}.",
    next: "Check the part after ':' in the URL fragment (#ref:subdir): a directory path relative to the repository's root.",
    http: 400,
  },
  "HTK-RUNTIME-0306": {
    title: "git not installed",
    cause: "The engine cannot run git: {detail}.",
    next: "Install git on the engine's machine (Debian: apt-get install git).",
    http: 500,
  },
  "HTK-RUNTIME-0340": {
    title: "systemd cgroup parent not supported",
    cause: "The cgroup parent \"{parent}\" is a systemd slice, but RUN steps are placed with the cgroupfs driver (as /<parent>/buildkit/<step>).",
    next: "Give --cgroup-parent as a cgroupfs path such as /ci-builds (a systemd slice's cgroup works as a path too: /system.slice/ci.slice).",
    http: 400,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
