import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/** REGISTRY diagnostics. IDs are HTK-REGISTRY-NNNN, ascending; never renumber one that has shipped. */
export const registryDiagnostics = {
  "HTK-REGISTRY-0001": {
    title: "Registry host not found",
    cause: "The registry host \"{host}\" could not be found: the DNS lookup failed ({detail}).",
    next: "Check the spelling of \"{host}\" in the image reference and that this machine can resolve it (DNS, VPN, /etc/hosts).",
    http: 404,
  },
  "HTK-REGISTRY-0002": {
    title: "Registry refused the connection",
    cause: "Nothing accepted the connection to the registry at {address} ({detail}).",
    next: "Check that the registry at {address} is running and that the host and port in the image reference are right.",
    http: 503,
  },
  "HTK-REGISTRY-0003": {
    title: "Registry certificate not trusted",
    cause: "The TLS connection to the registry \"{host}\" failed: {detail}.",
    next: "Put the registry's CA certificate in /etc/docker/certs.d/{host}/ca.crt, or list \"{host}\" as an insecure registry if it is a test registry.",
    http: 503,
  },
  "HTK-REGISTRY-0004": {
    title: "Proxy failed",
    cause: "The connection to the registry \"{host}\" through the proxy {proxy} failed: {detail}.",
    next: "Check HTTPS_PROXY, HTTP_PROXY and NO_PROXY; add \"{host}\" to NO_PROXY if the registry should be reached directly.",
    http: 503,
  },
  "HTK-REGISTRY-0005": {
    title: "Registry authentication required",
    cause: "The registry \"{host}\" did not accept the credentials for {operation} of \"{repository}\" ({detail}).",
    next: "Log in with \"docker login {host}\" and try again.",
    http: 401,
  },
  "HTK-REGISTRY-0006": {
    title: "Registry access denied",
    cause: "The registry \"{host}\" denied {operation} of \"{repository}\" ({detail}).",
    next: "Check that the account used for \"{host}\" may {operation} \"{repository}\"; log in with \"docker login {host}\" as another user if needed.",
    http: 403,
  },
  "HTK-REGISTRY-0007": {
    title: "Repository not found",
    cause: "The registry \"{host}\" has no repository \"{repository}\" ({detail}).",
    next: "Check the repository name in the image reference; for a private repository, log in with \"docker login {host}\".",
    http: 404,
  },
  "HTK-REGISTRY-0008": {
    title: "Image tag or manifest not found",
    cause: "The repository \"{repository}\" on \"{host}\" has no manifest \"{reference}\" ({detail}).",
    next: "Check the tag or digest; the image may have been deleted or never pushed under that name.",
    http: 404,
  },
  "HTK-REGISTRY-0009": {
    title: "Registry rate limit reached",
    cause: "The registry \"{host}\" kept answering 429 Too Many Requests to {operation} after {attempts} attempts.",
    next: "Wait a while and try again, or log in with \"docker login {host}\": authenticated pulls usually have a higher limit.",
    http: 503,
  },
  "HTK-REGISTRY-0010": {
    title: "Registry server error",
    cause: "The registry \"{host}\" answered {status} to {operation} after {attempts} attempts ({detail}).",
    next: "The registry has a problem of its own; try again later or check the registry's status.",
    http: 503,
  },
  "HTK-REGISTRY-0011": {
    title: "Blob does not match its digest",
    cause: "The registry \"{host}\" sent data for {digest} that hashed to {actual} ({size} bytes, {expectedSize} expected); it was refused and not stored.",
    next: "Try again; if the mismatch repeats, the registry or a proxy in between alters the content of {digest}.",
    http: 500,
  },
  "HTK-REGISTRY-0012": {
    title: "Unsupported manifest type",
    cause: "The registry \"{host}\" served \"{reference}\" as \"{mediaType}\", which is not an image manifest or index HATAKE can use: {detail}.",
    next: "Push the image again with a current client (OCI or Docker image manifest v2 schema 2).",
    http: 501,
  },
  "HTK-REGISTRY-0013": {
    title: "Malformed manifest",
    cause: "The manifest \"{reference}\" from \"{host}\" is not valid: {detail}.",
    next: "Push the image again; if it was pushed by another tool, check that tool's output with \"skopeo inspect --raw\".",
    http: 500,
  },
  "HTK-REGISTRY-0014": {
    title: "No image for this platform",
    cause: "The image \"{reference}\" has no manifest for {platform}; it has {available}.",
    next: "Choose one of the available platforms with --platform, or use an image built for {platform}.",
    http: 404,
  },
  "HTK-REGISTRY-0015": {
    title: "Invalid image reference",
    cause: "\"{reference}\" is not a valid image reference: {detail}.",
    next: "Write the reference as [host[:port]/]name[:tag][@sha256:digest], with a lower-case name.",
    http: 400,
  },
  "HTK-REGISTRY-0016": {
    title: "Credential helper failed",
    cause: "The credential helper \"docker-credential-{helper}\" failed to {action} the credentials of \"{host}\": {detail}.",
    next: "Check that docker-credential-{helper} is installed and on PATH, or remove \"{helper}\" from credsStore/credHelpers in {configFile}.",
    http: 500,
  },
  "HTK-REGISTRY-0017": {
    title: "Connection to the registry lost",
    cause: "The connection to the registry \"{host}\" was lost during {operation} and {attempts} attempts did not complete it ({detail}).",
    next: "Check the network between this machine and \"{host}\" (and any proxy), then try again.",
    http: 503,
  },
  "HTK-REGISTRY-0018": {
    title: "Registry answered unexpectedly",
    cause: "The registry \"{host}\" answered {status} to {operation}: {detail}.",
    next: "Check that \"{host}\" is a container registry (Distribution API v2) and that the request was meant for it.",
    http: 500,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
