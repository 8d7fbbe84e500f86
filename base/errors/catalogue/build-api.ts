import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/**
 * Builds through the engine: the daemon's `Builds` service (HTK-ENGINE-0550 …) and the classic
 * `POST /build` endpoint's context upload and parameters (HTK-BUILD-0300 …).
 */
export const buildApiDiagnostics = {
  "HTK-ENGINE-0550": {
    title: "Engine stopping",
    cause: "The engine is stopping and takes no new builds.",
    next: "Start the build again once the engine is running.",
    http: 503,
  },
  "HTK-ENGINE-0551": {
    title: "Build ID in use",
    cause: "A build with the ID \"{id}\" is already running.",
    next: "Use a different build ID, or leave it out and the engine picks one.",
    http: 409,
  },
  "HTK-ENGINE-0552": {
    title: "No such build record",
    cause: "The engine has no build record \"{id}\".",
    next: "List the recorded builds (docker buildx history ls) and use one of their IDs.",
    http: 404,
  },
  "HTK-BUILD-0300": {
    title: "Build context archive cut short",
    cause: "The build context archive ended early ({detail}).",
    next: "Send the whole archive again; a client that stopped while sending it (or a proxy that cut the upload) causes this.",
    http: 400,
  },
  "HTK-BUILD-0301": {
    title: "Unsafe path in build context",
    cause: "The build context archive has the entry \"{path}\", which {reason}.",
    next: "Make the archive from the context directory with relative paths inside it (docker build and docker-py do).",
    http: 400,
  },
  "HTK-BUILD-0302": {
    title: "Build context unreadable",
    cause: "The build context could not be read as a tar archive ({detail}).",
    next: "Send a tar archive, plain or compressed with gzip, bzip2 or xz.",
    http: 400,
  },
  "HTK-BUILD-0303": {
    title: "Dockerfile not in build context",
    cause: "Cannot locate specified Dockerfile: {name}",
    next: "Check the dockerfile parameter (docker build -f): it names a file inside the build context.",
    http: 400,
    dockerText: true,
  },
  "HTK-BUILD-0304": {
    title: "Dockerfile outside build context",
    cause: "The Dockerfile path \"{name}\" leads outside the build context.",
    next: "Name a file inside the context; the docker CLI sends a Dockerfile from elsewhere inside the context itself.",
    http: 400,
  },
  "HTK-BUILD-0305": {
    title: "Remote build context unavailable",
    cause: "The remote build context \"{url}\" could not be fetched: {detail}.",
    next: "Check that the URL answers from the engine's machine; or build from a local directory.",
    http: 400,
  },
  "HTK-BUILD-0307": {
    title: "BuildKit sessions not served here",
    cause: "The engine does not serve BuildKit builds over POST /build (version=2).",
    next: "Build with docker buildx (HATAKE's docker-buildx plugin), or set DOCKER_BUILDKIT=0 to use this endpoint's classic protocol.",
    http: 400,
  },
  "HTK-BUILD-0308": {
    title: "Invalid build parameter",
    cause: "The build parameter \"{name}\" is not valid: {detail}.",
    next: "Correct the parameter and send the build again. {hint}",
    http: 400,
  },
  "HTK-BUILD-0309": {
    title: "Unknown builder version",
    cause: "invalid version {version}",
    next: "Use version=1 (the classic protocol) or build with docker buildx.",
    http: 400,
    dockerText: true,
  },
  "HTK-BUILD-0310": {
    title: "Build ID missing",
    cause: "build ID not provided",
    next: "Pass the ID of the build to cancel as ?id=.",
    http: 400,
    dockerText: true,
  },
  // HTK-ENGINE-0920…0929: --build-context NAME=oci-layout://… (engine/api/build-service-oci-layout.ts).
  "HTK-ENGINE-0920": {
    title: "OCI layout blob missing",
    cause: "The OCI layout of the build context \"{name}\" has no blob {digest} (blobs/sha256/ of the layout directory).",
    next: "Check the layout (its index.json names what must be under blobs/); write it again, e.g. with docker buildx build -o type=oci,dest=…,tar=false.",
    http: 400,
  },
  "HTK-ENGINE-0921": {
    title: "OCI layout has no image for the platform",
    cause: "The OCI layout of the build context \"{name}\" has no image for {platform}; it has {available}.",
    next: "Build for one of those platforms (--platform), or name the image of the platform you want by its digest: oci-layout://PATH@sha256:….",
    http: 400,
  },
  "HTK-ENGINE-0922": {
    title: "OCI layout image unreadable",
    cause: "The image {digest} in the OCI layout of the build context \"{name}\" cannot be read: {detail}.",
    next: "Check that the layout holds an OCI or Docker image manifest under that digest.",
    http: 400,
  },
  "HTK-ENGINE-0923": {
    title: "OCI layout has a link or special file",
    cause: "The OCI layout of the build context \"{name}\" has a symbolic link or something else that is not a regular file or directory at {path}; the engine reads only real files inside the layout, never what a link points to.",
    next: "Copy the layout with real files, e.g. skopeo copy oci:SRC oci:DEST, or write it again with docker buildx build -o type=oci,dest=…,tar=false, and name the copy in --build-context.",
    http: 400,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
