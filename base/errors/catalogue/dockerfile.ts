import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/** DOCKERFILE diagnostics. IDs are HTK-DOCKERFILE-NNNN, ascending; never renumber one that has shipped. */
export const dockerfileDiagnostics = {
  // 0001–0099: the Dockerfile parser (frontend-dockerfile). `buildkitMessage` on the diagnostic is BuildKit's text.
  "HTK-DOCKERFILE-0001": {
    title: "Dockerfile has no instructions",
    cause: "The Dockerfile contains no instructions: it is empty or holds only comments, parser directives and blank lines.",
    next: "Add the instructions of the build, starting with a FROM line such as \"FROM alpine:3.20\".",
    http: 400,
  },
  "HTK-DOCKERFILE-0002": {
    title: "Dockerfile line too long",
    cause: "Line {line} is {bytes} bytes long; a Dockerfile line can be at most {max} bytes.",
    next: "Split the line with the escape character {escape} at the end of each part, or move the long content into a file that COPY adds.",
    http: 400,
  },
  "HTK-DOCKERFILE-0003": {
    title: "Repeated parser directive",
    cause: "The parser directive \"{name}\" is set a second time on line {line}; only one {name} directive can be used.",
    next: "Keep one \"# {name}=...\" line at the top of the Dockerfile and remove the other.",
    http: 400,
  },
  "HTK-DOCKERFILE-0004": {
    title: "Invalid escape character",
    cause: "The escape directive sets \"{value}\", but the escape character can only be a backslash or a backtick.",
    next: "Write \"# escape=\\\" (the default) or \"# escape=`\" (for Windows paths) as the first lines of the Dockerfile.",
    http: 400,
  },
  "HTK-DOCKERFILE-0005": {
    title: "Name without value",
    cause: "{instruction} {name} gives a name but no value; in this form {instruction} needs two arguments.",
    next: "Write {instruction} {name}=value (or {instruction} {name} value); for an empty value write {instruction} {name}=\"\".",
    http: 400,
  },
  "HTK-DOCKERFILE-0006": {
    title: "Missing = in name=value list",
    cause: "{instruction} sets several values, but {word} is not of the form name=value.",
    next: "Write every pair as name=value, with quotes around a value that holds spaces, e.g. name=\"a b\".",
    http: 400,
  },
  "HTK-DOCKERFILE-0007": {
    title: "JSON array with a non-string element",
    cause: "The JSON array of {instruction} holds {element}, but the exec form takes strings only.",
    next: "Put every element in double quotes, e.g. [\"sleep\", \"10\"], or write the arguments without brackets (shell form).",
    http: 400,
  },
  "HTK-DOCKERFILE-0008": {
    title: "Unterminated heredoc",
    cause: "The heredoc <<{name} that starts on line {line} reaches the end of the file without its terminator line.",
    next: "Add a line that holds only {name} after the heredoc's content (with <<- the line may start with tabs).",
    http: 400,
  },
  "HTK-DOCKERFILE-0009": {
    title: "Heredoc word cannot be read",
    cause: "The heredoc word {word} cannot be read: {detail}.",
    next: "Close every quote and variable reference in the word after <<, e.g. <<EOF, <<\"EOF\" or <<'EOF'.",
    http: 400,
  },
  "HTK-DOCKERFILE-0010": {
    title: "Empty continuation line",
    cause: "The instruction that starts on line {line} continues across the empty line {emptyLine}; empty continuation lines will become errors in a future release.",
    next: "Remove the empty line, or turn it into a comment line if it separates parts on purpose.",
  },
  "HTK-DOCKERFILE-0011": {
    title: "Unknown instruction",
    cause: "unknown instruction: {instruction}{suggestion}",
    next: "Use one of the Dockerfile instructions: {known}.",
    http: 400,
    dockerText: true,
  },
  "HTK-DOCKERFILE-0012": {
    title: "Dockerfile is not UTF-8",
    cause: "The Dockerfile is not valid UTF-8: {count} byte sequences were read as the replacement character U+FFFD.",
    next: "Save the Dockerfile with UTF-8 encoding.",
  },
  "HTK-DOCKERFILE-0013": {
    title: "Dockerfile not readable",
    cause: "The Dockerfile {path} could not be read: {detail}.",
    next: "Check the path (relative paths start at {cwd}) and that the file is readable for the current user.",
    http: 400,
  },
  // 0100–0109: the shell-word processor (frontend-dockerfile/shell). `detail` is BuildKit's own text.
  "HTK-DOCKERFILE-0100": {
    title: "Unterminated quote or variable reference",
    cause: "Cannot expand {word}: {detail}.",
    next: "Close every quote and variable reference the word opens, or put the escape character {escape} before a quote or $ that is meant literally.",
    http: 400,
  },
  "HTK-DOCKERFILE-0101": {
    title: "Bad variable substitution",
    cause: "Cannot expand {word}: {detail}.",
    next: "Write a variable reference as $NAME, or with a name and one of the operators :- - :+ + :? ? # ## % %% / //; put the escape character {escape} before a $ that is meant literally.",
    http: 400,
  },
  "HTK-DOCKERFILE-0102": {
    title: "Required variable not set",
    cause: "Cannot expand {word}: {detail}.",
    next: "Give the variable \"{name}\" a value before this instruction (ARG, ENV or --build-arg {name}=...).",
    http: 400,
  },
  "HTK-DOCKERFILE-0103": {
    title: "Invalid pattern in variable substitution",
    cause: "Cannot expand {word}: {detail}.",
    next: "In a # % or / pattern a backslash may only escape *, ?, a backslash, } or /.",
    http: 400,
  },
  // 0110–0119: the build context and .dockerignore (base/dockerignore).
  "HTK-DOCKERFILE-0110": {
    title: "Invalid .dockerignore pattern",
    cause: "The pattern {pattern} in {file} cannot be used: {detail}.",
    next: "Fix or remove that line of {file}; patterns use Go filepath.Match syntax (* ? [a-z] and \\ escapes) plus ** for any number of directories.",
    http: 400,
  },
  "HTK-DOCKERFILE-0111": {
    title: "Build context not found",
    cause: "The build context {path} is not a readable directory: {detail}.",
    next: "Pass the path of an existing directory as the build context.",
    http: 400,
  },
  "HTK-DOCKERFILE-0112": {
    title: "Build context entry unreadable",
    cause: "The build context entry {path} could not be read: {detail}.",
    next: "Make it readable for the current user, or add it to .dockerignore if it does not belong in the build.",
    http: 400,
  },
  // 0200–0299: compiling a Dockerfile to LLB (frontend-dockerfile/compile). `buildkitMessage` on the diagnostic is BuildKit's text.
  "HTK-DOCKERFILE-0200": {
    title: "Unknown instruction flag",
    cause: "unknown flag: {flag}{suggestion}",
    next: "Use one of the flags {instruction} accepts: {known}.",
    http: 400,
    dockerText: true,
  },
  "HTK-DOCKERFILE-0201": {
    title: "Malformed instruction flag",
    cause: "The flag --{flag} of {instruction} cannot be read: {detail}.",
    next: "Write the flag correctly: {rule}.",
    http: 400,
  },
  "HTK-DOCKERFILE-0202": {
    title: "Invalid flag value",
    cause: "The value {value} of --{flag} is not valid: {detail}.",
    next: "Change the value: {expected}.",
    http: 400,
  },
  "HTK-DOCKERFILE-0203": {
    title: "Invalid RUN --mount",
    cause: "The mount {mount} cannot be used: {detail}.",
    next: "Write the mount as comma-separated key=value pairs, e.g. type=cache,target=/root/.cache; the keys are {keys}.",
    http: 400,
  },
  "HTK-DOCKERFILE-0204": {
    title: "Invalid instruction arguments",
    cause: "{instruction} cannot be used as written: {detail}.",
    next: "Change the instruction: {hint}.",
    http: 400,
  },
  "HTK-DOCKERFILE-0205": {
    title: "Instruction before the first FROM",
    cause: "{instruction} comes before the first FROM; only ARG instructions can precede FROM.",
    next: "Move the instruction below a FROM line: every build stage starts with FROM.",
    http: 400,
  },
  "HTK-DOCKERFILE-0206": {
    title: "Invalid build stage name",
    cause: "The stage name {name} is not valid: it must start with a letter and contain only letters, digits, \"-\", \"_\" and \".\".",
    next: "Rename the stage, e.g. FROM golang:1.22 AS build.",
    http: 400,
  },
  "HTK-DOCKERFILE-0207": {
    title: "Target stage not found",
    cause: "The target stage {target} is not defined in the Dockerfile{suggestion}.",
    next: "Build one of the named stages ({stages}), or leave the target out to build the last stage.",
    http: 400,
  },
  "HTK-DOCKERFILE-0208": {
    title: "Invalid stage reference",
    cause: "The stage reference cannot be resolved: {detail}.",
    next: "Change the stage reference: {hint}.",
    http: 400,
  },
  "HTK-DOCKERFILE-0209": {
    title: "Instruction not allowed in ONBUILD",
    cause: "{trigger} cannot be an ONBUILD trigger: {detail}.",
    next: "Use another instruction as the trigger, e.g. ONBUILD COPY . /src; FROM, MAINTAINER and ONBUILD cannot be triggers.",
    http: 400,
  },
  "HTK-DOCKERFILE-0210": {
    title: "Invalid base image",
    cause: "The base {base} of stage {stage} cannot be used: {detail}.",
    next: "Write an image reference (alpine:3.20, registry.example.com/team/app:1.0), a stage defined above, or scratch; an ARG used in FROM must be declared before the first FROM.",
    http: 400,
  },
  "HTK-DOCKERFILE-0211": {
    title: "Base image config not resolved",
    cause: "The config of the base image {ref} could not be resolved: {detail}.",
    next: "Check the image name and tag{suggestion}, that the registry is reachable, and the credentials for a private registry.",
    http: 400,
  },
  "HTK-DOCKERFILE-0212": {
    title: "Unused build arguments",
    cause: "One or more build-args {args} were not consumed.",
    next: "Declare each with ARG in a stage that is built (or before the first FROM), or drop it from the build command.",
  },
  "HTK-DOCKERFILE-0213": {
    title: "Invalid COPY or ADD source",
    cause: "{instruction} cannot use the source {source}: {detail}.",
    next: "Change the source: {hint}.",
    http: 400,
  },
  "HTK-DOCKERFILE-0214": {
    title: "Several sources copied to one file",
    cause: "{instruction} copies {count} sources to {dest}, which does not end with /: each source is copied to that same path in turn, so only the last one is kept unless {dest} already exists as a directory.",
    next: "End the destination with a slash ({dest}/) to copy every source into that directory.",
  },
  "HTK-DOCKERFILE-0215": {
    title: "Source path outside the build context",
    cause: "The source {source} points outside the build context; it is read as {resolved} inside the context.",
    next: "Move the file into the build context (or pass another directory as a named context) and refer to it by its path inside the context.",
  },
  "HTK-DOCKERFILE-0216": {
    title: "Insecure RUN not entitled",
    cause: "RUN --security=insecure needs the security.insecure entitlement, which this build was not granted.",
    next: "Grant it for this build (--allow security.insecure, on an engine that permits it), or remove the flag.",
    http: 403,
  },
  "HTK-DOCKERFILE-0217": {
    title: "Invalid stop signal",
    cause: "The stop signal {signal} is not a signal name or number.",
    next: "Use a signal name such as SIGTERM or SIGQUIT, or a signal number such as 15.",
    http: 400,
  },
  "HTK-DOCKERFILE-0218": {
    title: "Invalid EXPOSE port",
    cause: "The port {port} cannot be exposed: {detail}.",
    next: "Write ports as PORT, PORT/PROTOCOL or START-END/PROTOCOL with tcp, udp or sctp, e.g. EXPOSE 80 443/tcp 53/udp.",
    http: 400,
  },
  "HTK-DOCKERFILE-0219": {
    title: "No build stage",
    cause: "The Dockerfile has no FROM instruction, so there is no stage to build.",
    next: "Add a FROM line after the global ARG instructions, e.g. FROM alpine:3.20.",
    http: 400,
  },
  "HTK-DOCKERFILE-0220": {
    title: "Invalid build option",
    cause: "The build option {option} is not valid: {detail}.",
    next: "Change the option: {hint}.",
    http: 400,
  },
  // 0300–0309: build checks (frontend-dockerfile/checks). One ID for every rule, with the rule as a
  // parameter: BuildKit's rule names are already stable, documented identifiers with their own pages
  // (https://docs.docker.com/go/dockerfile/rule/<rule>/), users skip them by name in "# check=skip=…",
  // and BuildKit adds rules in minor releases; one catalogue entry per rule would duplicate its docs and
  // need a new ID for each new rule.
  "HTK-DOCKERFILE-0300": {
    title: "Build check warning",
    cause: "Build check {rule}: {detail}.",
    next: "See {url} for how to fix it, or skip the rule with \"# check=skip={rule}\" at the top of the Dockerfile.",
  },
  "HTK-DOCKERFILE-0301": {
    title: "Build checks failed",
    cause: "The build checks found problems ({rules}) and the check configuration says error=true, so the build stops.",
    next: "Fix the findings listed above, skip the rules with \"# check=skip=…\", or drop error=true to keep them as warnings.",
    http: 400,
  },
  "HTK-DOCKERFILE-0302": {
    title: "Invalid check configuration",
    cause: "The check configuration {value} from {source} cannot be used: {detail}.",
    next: "Write it as skip=Rule1,Rule2 (or skip=all), experimental=Rule (or all) and error=true|false, separated by \";\".",
    http: 400,
  },
  "HTK-DOCKERFILE-0303": {
    title: "Checks stopped by an error",
    cause: "The build checks stopped at line {line}, where a build would stop too: {detail}.",
    next: "Fix that line (hatake dockerfile parse --dump shows how it was read), then check again.",
    http: 400,
  },
  // 0310–0319: Docker's texts for Dockerfiles that cannot be built.
  "HTK-DOCKERFILE-0310": {
    title: "Dockerfile cannot be parsed",
    // The classic builder's answer to POST /build (errdefs.InvalidParameter of instructions.Parse's error).
    cause: "{parseMessage}",
    next: "{diagnostic}: {next}",
    http: 400,
    dockerText: true,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
