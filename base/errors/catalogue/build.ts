import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/** BUILD (what a build step does to files) and RUNTIME (running processes and containers). */
export const buildDiagnostics = {
  "HTK-BUILD-0001": {
    title: "Copy destination is not a directory",
    cause: "Cannot copy {what} to \"{dest}\": it exists and is not a directory.",
    next: "End the destination with \"/\" only when it is (or should become) a directory, or remove the file there first.",
  },
  "HTK-BUILD-0002": {
    title: "Unknown user or group",
    cause: "The {kind} \"{name}\" was not found in the image's {file}.",
    next: "Use a numeric id, or create the {kind} in an earlier step (for example with adduser).",
  },
  "HTK-BUILD-0003": {
    title: "Path cannot be resolved",
    cause: "Resolving \"{path}\" followed too many symbolic links, or left the filesystem it belongs to.",
    next: "Look for a symbolic link loop on that path; links are followed inside the image's filesystem only.",
  },
  "HTK-BUILD-0004": {
    title: "Build context not provided",
    cause: "The build needs the local files \"{name}\", which this build session did not provide.",
    next: "Pass the context directory to the build (and for a named context, --build-context {name}=DIR).",
  },
  "HTK-BUILD-0005": {
    title: "File operation failed",
    cause: "The {action} of \"{path}\" failed: {detail}.",
    next: "Check the path and the image's filesystem at that step; the build record has the full error.",
  },
  "HTK-BUILD-0006": {
    title: "Data root served by an engine",
    cause: "The engine (process {pid}) serves the data root {dataRoot}; an in-process build beside it would disturb its containers and builds.",
    next: "Build through that engine (docker build, or hatake build without --data-root), or give this build its own --data-root.",
  },
  "HTK-BUILD-0100": {
    title: "Build step failed",
    cause: "process \"{command}\" did not complete successfully: exit code: {code}",
    dockerText: true,
    next: "Read the step's output above (the build record keeps all of it); run the command in the step's base image to reproduce.",
  },
  "HTK-BUILD-0101": {
    title: "Secret not provided",
    cause: "The step mounts the secret \"{id}\", which this build was not given (BuildKit: secret {id}: not found).",
    next: "Pass it to the build with --secret id={id},src=FILE (or env=VARIABLE), or make the mount optional (required=false).",
  },
  "HTK-BUILD-0102": {
    title: "Download failed",
    cause: "The download of \"{url}\" failed: {detail}.",
    next: "Check that the URL answers from this machine (proxy settings included), or copy the file into the build context and COPY it.",
  },
  "HTK-BUILD-0103": {
    title: "Download checksum mismatch",
    cause: "The download of \"{url}\" has the checksum {actual}, not the {expected} that ADD --checksum asks for.",
    next: "Update --checksum if the file was meant to change; otherwise the server sent something else than expected: do not use it.",
  },
  "HTK-BUILD-0200": {
    title: "SSH agent not forwarded",
    cause: "no SSH key \"{id}\" forwarded from the client",
    dockerText: true,
    next: "The step mounts an SSH agent (RUN --mount=type=ssh) but the build was given none: pass --ssh {id} (your $SSH_AUTH_SOCK), --ssh {id}=/path/to/agent.sock or --ssh {id}=/path/to/key, or make the mount optional (required=false).",
  },
  "HTK-BUILD-0201": {
    title: "SSH agent id not forwarded",
    cause: "unset ssh forward key {id}",
    dockerText: true,
    next: "The build was given SSH agents, but none with the id \"{id}\" the step mounts: add --ssh {id}=… (the id before \"=\" must match the mount's id=), or make the mount optional (required=false).",
  },
  "HTK-BUILD-0202": {
    title: "Push without a name",
    cause: "tag is needed when pushing to registry",
    dockerText: true,
    next: "Name the image: -t REGISTRY/REPOSITORY:TAG with --push, or -o type=registry,name=REGISTRY/REPOSITORY:TAG.",
  },
  "HTK-BUILD-0204": {
    title: "Platform cannot be built here",
    cause: "The build asks for {foreign}, but this machine runs only {host} containers: there is no emulation here (no binfmt_misc handlers, no QEMU), so RUN steps for another architecture cannot execute.",
    next: "Build for {host} (leave out --platform, or --platform {host}); build the other platforms on a machine of that architecture and combine the images with docker buildx imagetools create.",
  },
  "HTK-RUNTIME-0001": {
    title: "No container runtime in this worker",
    cause: "The step needs {needs}, which the local file worker cannot provide.",
    next: "Build through the engine, whose worker runs containers with crun.",
  },
  "HTK-BUILD-0400": {
    title: "Dockerfile not in the git context",
    cause: "The git context \"{url}\" has no file \"{path}\" at commit {commit}.",
    next: "Name the Dockerfile's path inside the repository (relative to the #ref:subdir directory) with -f, or send one with -f - or an absolute local path.",
    http: 400,
  },
  "HTK-BUILD-0401": {
    title: "Remote build context unusable",
    cause: "The build context \"{url}\" cannot be used: {detail}.",
    next: "Give a git repository (https://…/repo.git#ref:subdir, git://…, git@host:repo), an http(s) URL of a tar archive or of a Dockerfile, or a local directory.",
    http: 400,
  },
  "HTK-BUILD-0410": {
    title: "Entitlement not granted",
    cause: "{entitlement} is not allowed",
    next: "Grant it for this build with --allow {entitlement}, or remove the RUN flag (--network=host, --security=insecure) that needs it.",
    dockerText: true,
  },
  "HTK-BUILD-0420": {
    title: "Invalid ulimit",
    cause: "failed to parse ulimit: {detail}",
    next: "Give each ulimit as NAME=SOFT[:HARD] (-1 is unlimited; SOFT may not exceed HARD), for example --ulimit nofile=1024:2048.",
    dockerText: true,
    http: 400,
  },
  "HTK-BUILD-0421": {
    title: "Invalid /dev/shm size",
    cause: "failed to parse shm size: {detail}",
    next: "Give --shm-size with Docker's units, for example --shm-size 128m (the build service takes it in bytes).",
    dockerText: true,
    http: 400,
  },
  "HTK-BUILD-0422": {
    title: "Unknown ulimit name",
    cause: "The ulimit \"{name}\" is not a resource limit Docker knows, so no RUN step could be given it.",
    next: "Use one of: {names} (as --ulimit NAME=SOFT[:HARD]), or leave it out.",
    http: 400,
  },
  "HTK-BUILD-0423": {
    title: "Cgroup parent outside the cgroup tree",
    cause: "The cgroup parent \"{parent}\" contains \"..\", which would place RUN steps outside the cgroup tree.",
    next: "Give --cgroup-parent as a path without \"..\", for example /ci-builds.",
    http: 400,
  },
  "HTK-BUILD-0424": {
    title: "Invalid flag value",
    cause: "invalid argument \"{value}\" for \"{flag}\" flag: {detail}",
    next: "Correct the value: --shm-size takes a size such as 128m, --ulimit takes NAME=SOFT[:HARD] such as nofile=1024:2048.",
    dockerText: true,
  },
  "HTK-BUILD-0411": {
    title: "Unknown entitlement",
    cause: "invalid entitlement: {entitlement}",
    next: "Use --allow network.host or --allow security.insecure.",
    dockerText: true,
  },
  "HTK-BUILD-0412": {
    title: "Unknown build network mode",
    cause: "network mode \"{network}\" not supported by buildkit",
    next: "Use --network default, none or host.",
    dockerText: true,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
