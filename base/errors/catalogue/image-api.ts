import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/**
 * Diagnostics of the engine's image, auth and distribution endpoints (`engine/api/images*.ts`,
 * `auth.ts`, `distribution.ts`): HTK-ENGINE-0300 … 0349 and HTK-REGISTRY-0050 … 0069. Where Docker
 * Engine 26 has a text (the pull's "manifest for … not found", the push's "An image does not exist
 * locally with the tag", the login's "login attempt to … failed") the cause keeps it word for word:
 * the docker CLI prints it and scripts match on it.
 */
export const imageApiDiagnostics = {
  "HTK-ENGINE-0300": {
    title: "Image manifest not found",
    cause: "manifest for {reference} not found: {detail}",
    next: "Check the tag or digest (\"docker search\" does not work on private registries; the registry's tag list is at /v2/<name>/tags/list), or push the image first.",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0301": {
    title: "Repository not found",
    cause: "repository {name} not found: {detail}",
    next: "Check the repository name; for a private repository, log in with \"docker login\" first.",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0302": {
    title: "Pull access denied",
    cause: "pull access denied for {name}, repository does not exist or may require 'docker login': {detail}",
    next: "Log in with \"docker login\" to the registry of {name}, or check that the repository exists.",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0303": {
    title: "Reserved image name",
    cause: "'scratch' is a reserved name",
    next: "\"scratch\" is the empty base of Dockerfiles (FROM scratch) and cannot be pulled, pushed or tagged; choose another name.",
    http: 403,
    dockerText: true,
  },
  "HTK-ENGINE-0304": {
    title: "Invalid platform",
    cause: "The platform \"{platform}\" is not valid: {detail}.",
    next: "Write the platform as os[/arch[/variant]], for example linux/amd64 or linux/arm64/v8.",
    http: 400,
  },
  "HTK-ENGINE-0305": {
    title: "Nothing to create an image from",
    cause: "The request names neither an image to pull (fromImage) nor a source to import (fromSrc).",
    next: "Pass fromImage=NAME to pull (docker pull), or fromSrc=- with a tar body (docker import).",
    http: 400,
  },
  "HTK-ENGINE-0306": {
    title: "Invalid change instruction",
    cause: "{command} is not a valid change command",
    next: "Use only CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR in --change.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0307": {
    title: "Change instruction cannot be parsed",
    cause: "The change \"{change}\" cannot be parsed: {detail}.",
    next: "Write each --change as one Dockerfile instruction, for example --change 'ENV DEBUG=1' or --change 'CMD [\"sh\"]'.",
    http: 400,
  },
  "HTK-ENGINE-0308": {
    title: "Import archive unreadable",
    cause: "The file system archive could not be imported: {detail}.",
    next: "Nothing was imported. Pass a tar archive (plain, gzip, bzip2 or xz compressed) of a root file system, as \"docker export\" writes it.",
    http: 400,
  },
  "HTK-ENGINE-0309": {
    title: "Import source not downloadable",
    cause: "failed to GET {url} with status {status}: {detail}",
    next: "Check the URL given to docker import; it must answer a plain GET with the archive.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0310": {
    title: "No local image to push",
    cause: "An image does not exist locally with the tag: {name}",
    next: "Tag a local image with that name first (\"docker tag SOURCE {name}\"), then push it.",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0311": {
    title: "Tag to push does not exist",
    cause: "tag does not exist: {reference}",
    next: "List the local tags of the repository with \"docker images\", and push one of them.",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0312": {
    title: "Digest references cannot be pushed",
    cause: "cannot push a digest reference",
    next: "Push a tag (repository:tag); the registry answers with the digest.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0313": {
    title: "Push without credentials header",
    cause: "bad parameters and missing X-Registry-Auth: {detail}",
    next: "Send the X-Registry-Auth header (base64url JSON of the credentials, \"e30=\" for none), as the docker CLI does.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0314": {
    title: "Ambiguous tag",
    cause: "refusing to create an ambiguous tag using digest algorithm as name",
    next: "Choose a repository name other than \"sha256\".",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0315": {
    title: "Digest reference as a new name",
    cause: "cannot import digest reference",
    next: "Give the new name as repository[:tag], without \"@sha256:…\".",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0316": {
    title: "Invalid tag",
    cause: "invalid tag format",
    next: "A tag has up to 128 letters, digits, underscores, periods and dashes, and does not start with a period or dash.",
    http: 400,
    dockerText: true,
  },
  "HTK-ENGINE-0317": {
    title: "Repository missing",
    cause: "The request does not name the repository of the new tag (the \"repo\" parameter is empty).",
    next: "Pass repo=NAME (and tag=TAG), as \"docker tag SOURCE NAME[:TAG]\" does.",
    http: 400,
  },
  "HTK-ENGINE-0318": {
    title: "No tags to push",
    cause: "no tags to push for {name}",
    next: "Tag a local image as {name}:TAG first, then push it.",
    http: 404,
    dockerText: true,
  },
  "HTK-ENGINE-0319": {
    title: "Request body not valid JSON",
    cause: "The request body is not valid JSON: {detail}.",
    next: "Send a JSON object as the Engine API reference defines it for this endpoint.",
    http: 400,
  },
  "HTK-ENGINE-0320": {
    title: "Invalid number in a query parameter",
    cause: "strconv.Atoi: parsing \"{value}\": invalid syntax",
    next: "Give {name} as a whole number.",
    http: 400,
    dockerText: true,
  },
  "HTK-REGISTRY-0050": {
    title: "Registry cannot search",
    cause: "Unexpected status code {status}",
    next: "The registry {host} has no search API ({url} answered {status}): Distribution registries (registry:2) cannot be searched. Pull by a known name, or list the registry's repositories at /v2/_catalog.",
    http: 500,
    dockerText: true,
  },
  "HTK-REGISTRY-0051": {
    title: "Search limit out of range",
    cause: "limit {limit} is outside the range of [1, 100]",
    next: "Pass a --limit between 1 and 100.",
    http: 400,
    dockerText: true,
  },
  "HTK-REGISTRY-0052": {
    title: "Search results unreadable",
    cause: "error decoding registry search results: {detail}",
    next: "The registry {host} answered its search endpoint with something that is not Docker's search result JSON; check that it is a Docker registry.",
    http: 500,
    dockerText: true,
  },
  "HTK-REGISTRY-0053": {
    title: "Login failed",
    cause: "login attempt to {endpoint} failed with status: {status}",
    next: "Check the user name and password for {host} (\"docker login {host}\"); the registry refused them.",
    http: 401,
    dockerText: true,
  },
  "HTK-REGISTRY-0054": {
    title: "Invalid search filter value",
    cause: "invalid filter '{filter}={value}'",
    next: "Give is-official and is-automated the value true or false, and stars a whole number.",
    http: 400,
    dockerText: true,
  },
  "HTK-REGISTRY-0055": {
    title: "Unknown search filter",
    cause: "invalid filter '{filter}'",
    next: "Filter searches with is-official, is-automated or stars.",
    http: 400,
    dockerText: true,
  },
  "HTK-REGISTRY-0056": {
    title: "Registry credentials missing or refused",
    cause: "The registry \"{host}\" did not accept the credentials for {operation} of \"{repository}\" ({detail}).",
    next: "Log in with \"docker login {host}\" and try again.",
    // Not 401: the docker CLI answers a 401 to a pull with an interactive login prompt, which
    // dockerd never triggers (it reports registry auth failures of pull and push as 500).
    http: 500,
  },
  "HTK-REGISTRY-0060": {
    title: "Pull without registry credentials",
    // dockerd's pull reports distribution's url.Error of the manifest request as is (errdefs.Unknown).
    cause: "{op} \"{url}\": no basic auth credentials",
    next: "The registry {host} asks for a user name and password to pull \"{repository}\" and none came with the request: log in with \"docker login {host}\" and try again.",
    http: 500,
    dockerText: true,
  },
  "HTK-REGISTRY-0061": {
    title: "Push without registry credentials",
    // dockerd's push unwraps the url.Error (distribution's retryOnError) and ends its stream with the bare reason.
    cause: "no basic auth credentials",
    next: "The registry {host} asks for a user name and password to push \"{repository}\" and none came with the request: log in with \"docker login {host}\" and try again.",
    http: 500,
    dockerText: true,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
