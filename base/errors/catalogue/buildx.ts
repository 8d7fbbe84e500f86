import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/**
 * BUILDX: the `docker buildx` plugin (buildx-plugin/). Where buildx itself prints a fixed text
 * (builder store, context and flag errors), the cause keeps buildx's exact wording (`dockerText`).
 */
export const buildxDiagnostics = {
  "HTK-BUILDX-0001": {
    title: "Plugin bundle not built",
    cause: "The compiled docker-buildx plugin was not found at {path}.",
    next: "Run \"npm run build\" in the HATAKE folder (the set-up command tools/up.sh does this and installs the plugin).",
  },
  "HTK-BUILDX-0002": {
    title: "Docker context not found",
    cause: "context \"{name}\": context not found: {detail}",
    dockerText: true,
    next: "List the contexts with \"docker context ls\", or create this one with \"docker context create {name} --docker host=…\".",
  },
  "HTK-BUILDX-0003": {
    title: "Builder not found",
    cause: "no builder \"{name}\" found",
    dockerText: true,
    next: "List the builders with \"docker buildx ls\"; create one with \"docker buildx create --name {name}\".",
  },
  "HTK-BUILDX-0004": {
    title: "Invalid builder name",
    cause: "invalid name {name}, name needs to start with a letter and may not contain symbols, except ._-",
    dockerText: true,
    next: "Choose a name that starts with a letter and uses only letters, digits, \".\", \"_\" and \"-\".",
  },
  "HTK-BUILDX-0005": {
    title: "Endpoint not supported",
    cause: "The endpoint \"{endpoint}\" uses a transport this plugin does not speak ({detail}).",
    next: "Use a unix:// socket or a tcp:// address (with TLS files for a remote engine), or a docker context that names one.",
  },
  "HTK-BUILDX-0006": {
    title: "Engine unreachable",
    cause: "Cannot connect to the HATAKE engine at {endpoint}: {detail}.",
    next: "Start the engine (tools/up.sh) or check the builder's endpoint with \"docker buildx inspect\".",
  },
  "HTK-BUILDX-0007": {
    title: "No build service at the endpoint",
    cause: "The engine at {endpoint} does not serve the HATAKE build service (it answered {status} to {path}).",
    next: "Point the builder at a HATAKE engine: \"docker buildx create --driver remote unix:///PATH/TO/hatake.sock\", or use the context tools/up.sh created (\"docker --context hatake build …\").",
  },
  "HTK-BUILDX-0008": {
    title: "Driver not supported",
    cause: "The builder \"{name}\" uses the \"{driver}\" driver, which this buildx does not run (it runs \"hatake\" and \"remote\").",
    next: "Create a builder with \"docker buildx create --driver hatake\" (the local engine) or \"--driver remote ENDPOINT\" (another HATAKE engine).",
  },
  "HTK-BUILDX-0009": {
    title: "Reserved builder name",
    cause: "default is a reserved name and cannot be used to identify builder instance",
    dockerText: true,
    next: "Choose another name with --name.",
  },
  "HTK-BUILDX-0010": {
    title: "Name taken by a context",
    cause: "instance name \"{name}\" already exists as context builder",
    dockerText: true,
    next: "Choose another --name: every docker context is already a builder of the same name.",
  },
  "HTK-BUILDX-0011": {
    title: "Builder exists",
    cause: "existing instance for \"{name}\" but no append mode, specify the node name to make changes for existing instances",
    dockerText: true,
    next: "Remove it first (\"docker buildx rm {name}\"), pick another --name, or add a node with --append.",
  },
  "HTK-BUILDX-0012": {
    title: "No remote endpoint",
    cause: "no remote endpoint provided",
    dockerText: true,
    next: "Give the remote engine's address: \"docker buildx create --driver remote tcp://HOST:PORT\" (or unix:///PATH).",
  },
  "HTK-BUILDX-0013": {
    title: "Context builders cannot be removed",
    cause: "context builder cannot be removed, run `docker context rm {name}` to remove this context",
    dockerText: true,
    next: "Remove the docker context itself, or remove a builder created with \"docker buildx create\".",
  },
  "HTK-BUILDX-0014": {
    title: "Unknown driver",
    cause: "failed to find driver \"{driver}\"",
    dockerText: true,
    next: "Use --driver hatake (the engine of a docker context or host) or --driver remote (another HATAKE engine).",
  },
  "HTK-BUILDX-0015": {
    title: "The default builder is the default context's",
    cause: "run `docker context use default` to switch to default context",
    dockerText: true,
    next: "Switch the docker context (\"docker context use default\"): the default builder belongs to it.",
  },
  "HTK-BUILDX-0016": {
    title: "A context's builder is chosen with its context",
    cause: "run `docker context use {name}` to switch to context {name}",
    dockerText: true,
    next: "Switch to that docker context, or create a builder on it: \"docker buildx create --name NAME {name}\".",
  },
  "HTK-BUILDX-0017": {
    title: "Builder instance not found",
    cause: "failed to find instance \"{name}\": open {path}: no such file or directory",
    dockerText: true,
    next: "List the builders with \"docker buildx ls\".",
  },
  "HTK-BUILDX-0018": {
    title: "Some builders were not removed",
    cause: "failed to remove one or more builders",
    dockerText: true,
    next: "Read the lines above: each names the builder and why it stayed.",
  },
  "HTK-BUILDX-0019": {
    title: "Invalid output format",
    cause: "template parsing error: {detail}",
    dockerText: true,
    next: "Use --format table, --format json, or a template of the command's fields such as '.Name' in double braces.",
  },
  "HTK-BUILDX-0020": {
    title: "Invalid builder options",
    cause: "{buildxMessage}",
    dockerText: true,
    next: "Check the options against \"docker buildx create --help\" (buildx's own message is above).",
  },
  "HTK-BUILDX-0021": {
    title: "Build option not supported yet",
    cause: "The build option {option} is not supported by this buildx yet.",
    next: "Leave it out; the engine's build service grows these as they land (see docker buildx build --help for what is there).",
  },
  "HTK-BUILDX-0070": {
    title: "Stdin used twice",
    cause: "invalid argument: can't use stdin for both build context and dockerfile",
    dockerText: true,
    next: "Send either the context (docker build - < context.tar) or the Dockerfile (-f -) on stdin, not both.",
  },
  "HTK-BUILDX-0071": {
    title: "Build context from stdin unreadable",
    cause: "The build context read from stdin could not be unpacked: {detail}.",
    next: "Pipe a tar archive (plain, gzip, bzip2, xz or zstd) or a Dockerfile into docker build -.",
  },
  "HTK-BUILDX-0022": {
    title: "Build context not found",
    cause: "unable to prepare context: path \"{path}\" not found",
    dockerText: true,
    next: "Give the build a directory that exists (the last argument of docker build).",
  },
  "HTK-BUILDX-0023": {
    title: "Dockerfile not found",
    cause: "failed to build: failed to solve: failed to read dockerfile: open {name}: no such file or directory",
    dockerText: true,
    next: "Put a Dockerfile in the context or name it with -f.",
  },
  "HTK-BUILDX-0024": {
    title: "Build stream ended early",
    cause: "The engine at {endpoint} ended the build's stream without a result.",
    next: "Look at the engine's log for the build; the engine may have stopped.",
  },
  "HTK-BUILDX-0025": {
    title: "Output not written",
    cause: "The build's files could not be written to {dest}: {detail}.",
    next: "Check that the destination is writable and has space.",
  },
  "HTK-BUILDX-0026": {
    title: "Secret not readable",
    cause: "The secret \"{id}\" could not be read: {detail}.",
    next: "Check the --secret option's src= file or env= variable.",
  },
  "HTK-BUILDX-0027": {
    title: "No build record",
    cause: "There is no build record \"{what}\" on this builder.",
    next: "List the records with \"docker buildx history ls\".",
  },
  // ---- ENGINE 0600–0629: the engine's build service (engine/api/build-service*.ts) ----
  "HTK-ENGINE-0600": {
    title: "Context transfer refused",
    cause: "The transfer of the build context \"{name}\" was refused: {detail}.",
    http: 400,
    next: "Run the build again: the client sends the context anew. If it keeps failing, update the buildx plugin to the engine's version.",
  },
  "HTK-ENGINE-0601": {
    title: "Unknown context reference",
    cause: "The build names the context \"{ref}\", which this engine does not have (it restarted, or the context was never sent).",
    http: 404,
    next: "Run the build again: the client sends its context before every build.",
  },
  "HTK-ENGINE-0602": {
    title: "Context transfer expired",
    cause: "The context transfer \"{id}\" is not open on this engine (it finished, failed, or waited too long).",
    http: 404,
    next: "Run the build again; a transfer stays open for two minutes without data.",
  },
  "HTK-ENGINE-0603": {
    title: "Build request not understood",
    cause: "The build service cannot run this request: {detail}.",
    http: 400,
    next: "Check the build's options; update the buildx plugin when it is older than the engine.",
  },
  "HTK-ENGINE-0604": {
    title: "Not available in the build service yet",
    cause: "The build asks for {what}, which this engine's build service does not offer yet.",
    http: 501,
    next: "Leave the option out, or use hatake build --data-root where it is available in-process.",
  },
  "HTK-ENGINE-0605": {
    title: "Dockerfile cannot be read",
    cause: "The Dockerfile could not be used:\n{detail}",
    http: 400,
    next: "Fix the lines shown; \"hatake dockerfile parse FILE\" shows the same diagnostics.",
  },
  "HTK-ENGINE-0606": {
    title: "Build output not available",
    cause: "The build output \"{id}\" is not on this engine (it was read already, or waited more than ten minutes).",
    http: 404,
    next: "Run the build again with the same -o option.",
  },
  "HTK-ENGINE-0607": {
    title: "Build output could not be sent",
    cause: "Packing the build output failed: {detail}.",
    next: "Check the engine's disk space and the data root; the build itself completed.",
  },
  "HTK-ENGINE-0608": {
    title: "Unexpected secrets",
    cause: "Secrets for the build \"{ref}\" arrived, but the engine did not ask for them (the build ended, or waited too long).",
    http: 409,
    next: "Run the build again; secrets are asked for once the Dockerfile is compiled.",
  },
  "HTK-ENGINE-0609": {
    title: "Build not running",
    cause: "The build \"{ref}\" is not running on this engine (it finished, or never started).",
    http: 404,
    next: "Look at a finished build with \"docker buildx history inspect {ref}\" and its logs with \"docker buildx history logs {ref}\".",
  },
  "HTK-BUILDX-0100": {
    title: "imagetools inspect: --format and --raw together",
    cause: "format and raw cannot be used together",
    dockerText: true,
    next: "Use --raw for the registry's bytes, or --format for a template, not both.",
  },
  "HTK-BUILDX-0101": {
    title: "imagetools create: no sources",
    cause: "no sources specified",
    dockerText: true,
    next: "Name the source images (references, digests or descriptor JSON), or give -f FILE.",
  },
  "HTK-BUILDX-0102": {
    title: "imagetools create: no tag",
    cause: "can't push with no tags specified, please set --tag or --dry-run",
    dockerText: true,
    next: "Add -t NAME:TAG for the new image, or --dry-run to print it without pushing.",
  },
  "HTK-BUILDX-0103": {
    title: "imagetools create: unusable source",
    cause: "failed to parse source \"{source}\", valid sources are digests, references and descriptors: {detail}",
    dockerText: true,
    next: "Give a reference (registry/repo:tag), a digest (sha256:…) or an OCI descriptor in JSON.",
  },
  "HTK-BUILDX-0104": {
    title: "imagetools create: no repository",
    cause: "no repositories specified, please set a reference in tag or source",
    dockerText: true,
    next: "Sources given by digest need a repository: add -t REPO:TAG or a source reference.",
  },
  "HTK-BUILDX-0105": {
    title: "imagetools create: which repository?",
    cause: "multiple repositories specified, cannot infer repository for \"{source}\"",
    dockerText: true,
    next: "Give that source as a full reference (REPO@sha256:…) instead of a bare digest.",
  },
  "HTK-BUILDX-0106": {
    title: "imagetools create: schema 1 manifest",
    cause: "schema1 manifests are not allowed in manifest lists",
    dockerText: true,
    next: "Rebuild or re-push that image with a current client: schema 1 manifests cannot be listed.",
  },
  "HTK-BUILDX-0107": {
    title: "imagetools create: annotation not applicable",
    cause: "\"{type}\" annotations are {problem}",
    dockerText: true,
    next: "Use --annotation index:KEY=VALUE or manifest-descriptor[PLATFORM]:KEY=VALUE (annotations go on OCI indexes only).",
  },
  "HTK-BUILDX-0108": {
    title: "imagetools create: annotation refused",
    cause: "failed to parse annotations: {detail}",
    dockerText: true,
    next: "Use --annotation index:KEY=VALUE or manifest-descriptor[PLATFORM]:KEY=VALUE (annotations go on OCI indexes only).",
  },
  "HTK-BUILDX-0109": {
    title: "imagetools inspect: template not supported",
    cause: "The --format template cannot be run: {detail}.",
    next: "Use field chains and the json function, as in --format '{example}'.",
  },
  "HTK-BUILDX-0110": {
    title: "Invalid image reference",
    cause: "The image reference \"{reference}\" is not valid: {detail}.",
    next: "Write it as [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST], in lower case.",
  },
  "HTK-ENGINE-0720": {
    title: "Unexpected answer from the client",
    cause: "{what} for the build \"{ref}\" arrived, but the engine did not ask for them (the build ended, or waited too long).",
    http: 409,
    next: "Run the build again; the engine asks for registry credentials and SSH agent answers while the build runs.",
  },
  "HTK-ENGINE-0721": {
    title: "Entitlement not allowed by the engine",
    cause: "granting entitlement {entitlement} is not allowed by build daemon configuration",
    dockerText: true,
    http: 403,
    next: "Allow it in the engine's daemon.json (builder.entitlements.security-insecure or builder.entitlements.network-host set to true), restart the engine, or build without --allow {entitlement}.",
  },
  "HTK-BUILDX-0080": {
    title: "Invalid build option",
    cause: "{buildxMessage}",
    dockerText: true,
    next: "Check the option against \"docker buildx build --help\" (buildx's own message is above).",
  },
  "HTK-BUILDX-0081": {
    title: "SSH key files not usable",
    cause: "The key files {keys} given to --ssh could not be loaded into an SSH agent on this machine: {detail}.",
    next: "Give unencrypted private keys (OpenSSH's ssh-agent and ssh-add must be installed), or load the keys into your agent with ssh-add and pass --ssh default.",
  },
  "HTK-BUILDX-0111": {
    title: "The GUI is not reachable over a unix socket",
    cause: "The builder's engine is reached at {endpoint}, a unix socket, which a browser cannot open.",
    next: "Set HATAKE_GUI_URL to the engine's TCP address (start it with -H tcp://127.0.0.1:PORT as well), or use a builder whose endpoint is tcp://.",
  },
  "HTK-BUILDX-0112": {
    title: "Invalid history filter",
    cause: "The filter \"{filter}\" is not one history ls understands.",
    next: "Use ref=, status= (or !=) and startedAt, completedAt, duration with < or > (e.g. --filter status=error --filter duration>30s).",
  },
  "HTK-BUILDX-0113": {
    title: "TLS refused by the engine",
    cause: "The engine at {endpoint} refused the TLS connection ({detail}).",
    next: "Give the remote builder the engine's CA and a client certificate it signed: docker buildx create --driver remote --driver-opt cacert=ca.pem,cert=cert.pem,key=key.pem {endpoint}.",
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
