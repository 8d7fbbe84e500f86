import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/** CORE (the process), CLI (the `hatake` command line), TEST (the test harness), BENCH (benchmarks). */
export const coreDiagnostics = {
  "HTK-CORE-0001": {
    title: "Internal error",
    cause: "HATAKE hit an unexpected internal error: {message}.",
    next: "This is a bug in HATAKE, not in your input. Please report it with the trace ID {traceId} and the log around it.",
    http: 500,
  },
  "HTK-CORE-0002": {
    title: "Operation cancelled",
    cause: "The operation {operation} was cancelled before it finished.",
    next: "Nothing was left half-done. Run the command again when you are ready.",
  },
  "HTK-CLI-0001": {
    title: "Unknown command",
    cause: "\"{command}\" is not a hatake command.{suggestion}",
    next: "Run \"hatake help\" to see the commands.",
  },
  "HTK-CLI-0002": {
    title: "Invalid command-line option",
    cause: "The options of \"hatake {command}\" could not be read: {detail}.",
    next: "Run \"hatake help {command}\" to see the options it takes.",
  },
  "HTK-CLI-0003": {
    title: "Product not built",
    cause: "The compiled hatake program was not found at {path}.",
    next: "Run \"npm run build\" in {root} (the set-up command does this for you).",
  },
  "HTK-CLI-0004": {
    title: "Option not available here yet",
    cause: "The option {option} of \"hatake {command}\" is not available {where} yet.",
    next: "{alternative}",
  },
  "HTK-CLI-0005": {
    title: "In-process option without --data-root",
    cause: "The option {option} of \"hatake build\" works in in-process builds only, and this build goes to the engine (no --data-root was given).",
    next: "Add --data-root DIR to build in this process, or leave the option out to build in the engine (docker buildx history inspect shows what a build in the engine did).",
  },
  "HTK-CLI-0006": {
    title: "Build client missing",
    cause: "Builds without --data-root go to the engine through the docker-buildx plugin of this installation, which could not be started ({path}: {detail}).",
    next: "Run \"npm run build\" in the HATAKE folder (the set-up command tools/up.sh does it), or build in this process with --data-root DIR.",
  },
  "HTK-CLI-0050": {
    title: "Invalid --ssh option",
    cause: "The --ssh option \"{spec}\" cannot be used: {detail}.",
    next: "Use --ssh default (the agent of $SSH_AUTH_SOCK), --ssh ID=/path/to/agent.sock or --ssh ID=/path/to/key[,/path/to/key…], each ID once.",
  },
  "HTK-CLI-0051": {
    title: "SSH key file cannot be used",
    cause: "The key file {path} given to --ssh cannot be used: {detail}.",
    next: "Give an unencrypted private key (OpenSSH or PEM format, ed25519, RSA or ECDSA), or load the key into an ssh-agent with ssh-add and pass --ssh default.",
  },
  "HTK-CLI-0052": {
    title: "Invalid --platform",
    cause: "The platform \"{spec}\" cannot be read: {detail}.",
    next: "Write platforms as os/arch[/variant], for example linux/amd64; several are separated by commas.",
  },
  "HTK-TEST-0001": {
    title: "Missing system package",
    cause: "The tests need the program {program}, which was not found on this machine.",
    next: "Install it with \"apt-get install -y {aptPackage}\" (the README's test command does this for you).",
  },
  "HTK-TEST-0002": {
    title: "Test service did not start",
    cause: "The test service {service} did not become ready within {seconds} s: {detail}.",
    next: "Check that port {port} on 127.0.0.1 is free and look at the log in {logFile}.",
  },
  "HTK-TEST-0003": {
    title: "Busybox is not statically linked",
    cause: "The test image is built from {path}, which is a dynamically linked program, so it cannot run inside a container that has no C library.",
    next: "Install the static build with \"apt-get install -y {aptPackage}\" (it replaces the dynamic busybox package).",
  },
  "HTK-TEST-0004": {
    title: "Test helper command failed",
    cause: "The command \"{command}\" exited with {status}: {detail}.",
    next: "Run the command by hand to see the whole output; the log, if any, is in {logFile}.",
  },
  "HTK-BENCH-0001": {
    title: "Unknown benchmark workload",
    cause: "There is no benchmark workload named \"{name}\".{suggestion}",
    next: "Run \"npm run bench -- --list\" to see the workloads.",
  },
  "HTK-BENCH-0002": {
    title: "Reference Docker host unreachable",
    cause: "The reference engine at {host} did not answer: {detail}.",
    next: "Check that the engine runs and that the address passed to --vs-docker-host is right.",
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
