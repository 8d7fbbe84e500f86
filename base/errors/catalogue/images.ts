import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/**
 * ENGINE diagnostics of the local image store and image archives (`engine/images/`), numbered from
 * HTK-ENGINE-0200. Where Docker Engine has a text (`No such image`, the `docker rmi` conflicts, the
 * reference parser's messages) the cause keeps it word for word: scripts and the docker CLI match on it.
 * Docker's texts keep Docker's punctuation (no full stop where Docker has none).
 */
export const imageDiagnostics = {
  "HTK-ENGINE-0200": {
    title: "No such image",
    cause: "No such image: {reference}",
    next: "Check the name with \"docker images\", or pull the image first.",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0201": {
    title: "Invalid image reference",
    cause: "invalid reference format{detail}",
    next: "Write the reference as [registry/]repository[:tag][@sha256:digest], with a lowercase repository name.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0202": {
    title: "Image ID used as a repository name",
    cause: "invalid repository name ({name}), cannot specify 64-byte hexadecimal strings",
    next: "Choose a repository name that is not a 64-digit hexadecimal string.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0203": {
    title: "Image has several references",
    cause: "conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories",
    next: "Remove the image by one of its names (\"docker rmi name:tag\"), or force the removal of every name with \"docker rmi -f {id}\".",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0204": {
    title: "Image used by a running container",
    cause: "conflict: unable to delete {id} (cannot be forced) - image is being used by running container {container}",
    next: "Stop and remove container {container} first (\"docker rm -f {container}\").",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0205": {
    title: "Image used by a stopped container",
    cause: "conflict: unable to delete {id} (must be forced) - image is being used by stopped container {container}",
    next: "Remove container {container} first (\"docker rm {container}\"), or force the removal with \"docker rmi -f\".",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0206": {
    title: "Image has child images",
    cause: "conflict: unable to delete {id} (cannot be forced) - image has dependent child images",
    next: "Remove the images built on top of {id} first.",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0207": {
    title: "Last name of an image used by a container",
    cause: "conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {id}",
    next: "Remove container {container} first, or force the removal with \"docker rmi -f {reference}\".",
    http: 409,
    dockerText: true,
  },
  "HTK-ENGINE-0208": {
    title: "Tag with a digest",
    cause: "refusing to create a tag with a digest reference",
    next: "Give the new name as repository[:tag], without \"@sha256:…\".",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0209": {
    title: "Image content missing",
    cause: "The image {image} cannot be recorded: its {what} {digest} is not in the content store.",
    next: "Pull, load or build the image again; the step that stored its content did not finish.",
    http: 500,
  },
  "HTK-ENGINE-0210": {
    title: "Image content not valid",
    cause: "The image {image} cannot be recorded: its {what} {digest} is not valid: {detail}.",
    next: "The image was produced by a tool that writes malformed manifests or configs; rebuild or re-export it with a current tool.",
    http: 400,
  },
  "HTK-ENGINE-0211": {
    title: "Image archive unreadable",
    cause: "The image archive could not be read: {detail}.",
    next: "Nothing was imported. Check that the file is complete (a copy or download may have been cut short) and is a tar made by \"docker save\" or an OCI image layout.",
    http: 400,
  },
  "HTK-ENGINE-0212": {
    title: "Not an image archive",
    cause: "The archive has neither manifest.json nor index.json, so it is not a \"docker save\" archive or an OCI image layout.",
    next: "Nothing was imported. To import a root file system tarball use \"docker import\" instead of \"docker load\".",
    http: 400,
  },
  "HTK-ENGINE-0213": {
    title: "Archive content does not match its digest",
    cause: "The archive entry \"{path}\" does not match its digest: it hashes to {actual}, its name says {expected}.",
    next: "Nothing was imported. The archive is damaged; save or export the image again.",
    http: 400,
  },
  "HTK-ENGINE-0214": {
    title: "Archive file missing",
    cause: "The archive's {manifest} names \"{path}\", which the archive does not contain.",
    next: "Nothing was imported. The archive is incomplete; save or export the image again.",
    http: 400,
  },
  "HTK-ENGINE-0215": {
    title: "Layer does not match the image config",
    cause: "invalid diffID for layer {index}: expected \"{expected}\", got \"{actual}\"",
    next: "Nothing was imported. The archive's layers do not belong to its image config; save the image again.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0216": {
    title: "Unsafe path in an image archive",
    cause: "The archive entry \"{path}\" has a path that leaves the archive (an absolute path or \"..\").",
    next: "Nothing was imported. Only load archives from sources you trust; this one was not written by \"docker save\".",
    http: 400,
  },
  "HTK-ENGINE-0217": {
    title: "Not an OCI image layout",
    cause: "\"{path}\" is not a usable OCI image layout: {detail}.",
    next: "Point at a directory (or tar) with oci-layout, index.json and blobs/sha256/, as written by \"docker buildx build --output type=oci\" or \"skopeo copy … oci:DIR\".",
    http: 400,
  },
  "HTK-ENGINE-0218": {
    title: "OCI layout image not found",
    cause: "The OCI layout \"{path}\" has {count} images named \"{ref}\"; exactly one is needed.",
    next: "Name one of the images the layout's index.json lists ({available}).",
    http: 404,
  },
  "HTK-ENGINE-0219": {
    title: "Image without layers cannot be saved",
    cause: "empty export - not implemented",
    next: "Docker cannot save an image that has no layers either; add a layer (for example COPY of an empty file) before saving.",
    http: 500,
    dockerText: true,
  },
  "HTK-ENGINE-0220": {
    title: "Image store state unreadable",
    cause: "The image store state file {path} could not be read: {detail}.",
    next: "Restore the file from a backup, or move it aside to start with an empty image list (the content stays and can be re-tagged after a pull or load).",
    http: 500,
  },
  "HTK-ENGINE-0221": {
    title: "Unknown image filter",
    cause: "invalid filter '{filter}'",
    next: "Use one of the filters this endpoint accepts: {accepted}.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0222": {
    title: "Invalid image filter value",
    cause: "Invalid filter '{filter}={value}'",
    next: "Give {filter} the value true or false.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0223": {
    title: "Invalid time in an image filter",
    cause: "failed to parse value as time or duration: \"{value}\"",
    next: "Give a Unix timestamp, an RFC 3339 date (2006-01-02T15:04:05Z) or a duration before now (10m, 24h).",
    http: 400,
    dockerText: true,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
