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
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
