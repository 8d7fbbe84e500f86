import { describe, expect, it } from "vitest";
import { FlagError, flagUsages, parseFlags, splitCsv, type FlagSpec } from "./flags.ts";

const specs: FlagSpec[] = [
  { name: "tag", short: "t", kind: "stringArray", usage: 'Name and optionally a tag (format: "name:tag")' },
  { name: "quiet", short: "q", kind: "bool", usage: "Suppress the build output and print image ID on success" },
  { name: "debug", short: "D", kind: "bool", usage: "Enable debug logging" },
  { name: "progress", kind: "string", usage: "Set type of progress output", default: "auto" },
  { name: "add-host", kind: "stringSlice", usage: 'Add a custom host-to-IP mapping (format: "host:ip")' },
  { name: "call", kind: "string", usage: "Set method for evaluating build", default: "build" },
  { name: "check", kind: "bool", usage: 'Shorthand for "--call=check"' },
  { name: "ulimit", kind: "string", usage: "Value with an optional argument", noOptDefault: "x", hidden: true },
  { name: "shm-size", kind: "value", typeName: "bytes", usage: "Shared memory size for build containers" },
  { name: "print", kind: "string", usage: "hidden", hidden: true },
];

describe("pflag semantics", () => {
  it("reads long, short, attached and combined forms, interspersed with arguments", () => {
    const r = parseFlags(["-t", "a", ".", "--tag=b", "-tc", "-qD", "--progress", "plain", "-t=d", "--", "-x"], specs);
    expect(r.flags.list("tag")).toEqual(["a", "b", "c", "d"]);
    expect(r.flags.bool("quiet")).toBe(true);
    expect(r.flags.bool("debug")).toBe(true);
    expect(r.flags.string("progress")).toBe("plain");
    expect(r.args).toEqual([".", "-x"]);
  });

  it("keeps defaults, splits string slices as CSV and gives optional-value flags their default", () => {
    const r = parseFlags(["--add-host", "a:1,b:2", "--add-host=c:3", "--ulimit", "--quiet=false"], specs);
    expect(r.flags.string("progress")).toBe("auto");
    expect(r.flags.changed("progress")).toBe(false);
    expect(r.flags.list("add-host")).toEqual(["a:1", "b:2", "c:3"]);
    expect(r.flags.string("ulimit")).toBe("x");
    expect(r.flags.bool("quiet")).toBe(false);
    expect(splitCsv('"a,b",c')).toEqual(["a,b", "c"]);
  });

  it("stops at the first argument when not interspersed (global flags before buildx)", () => {
    const r = parseFlags(["-D", "buildx", "--builder", "x"], specs, { interspersed: false });
    expect(r.args).toEqual(["buildx", "--builder", "x"]);
  });

  it("fails with pflag's texts", () => {
    expect(() => parseFlags(["--nope"], specs)).toThrow(new FlagError("unknown flag: --nope"));
    expect(() => parseFlags(["-x"], specs)).toThrow("unknown shorthand flag: 'x' in -x");
    expect(() => parseFlags(["--tag"], specs)).toThrow("flag needs an argument: --tag");
    expect(() => parseFlags(["-t"], specs)).toThrow("flag needs an argument: 't' in -t");
    expect(() => parseFlags(["--quiet=maybe"], specs)).toThrow('invalid argument "maybe" for "--quiet" flag: strconv.ParseBool: parsing "maybe": invalid syntax');
  });

  it("sees --help and -h anywhere", () => {
    expect(parseFlags(["x", "--help"], specs).help).toBe(true);
    expect(parseFlags(["-qh"], specs).help).toBe(true);
  });
});

describe("help's flag table", () => {
  it("prints pflag's layout: sorted, types, defaults, hidden flags left out", () => {
    // The longest left part plus three spaces; usage wrapped at 79 columns unless the rest fits in 5 more.
    expect(flagUsages(specs)).toBe(
      [
        '      --add-host strings   Add a custom host-to-IP mapping (format: "host:ip")',
        '      --call string        Set method for evaluating build (default "build")',
        '      --check              Shorthand for "--call=check"',
        "  -D, --debug              Enable debug logging",
        '      --progress string    Set type of progress output (default "auto")',
        "  -q, --quiet              Suppress the build output and print image ID",
        "                           on success",
        "      --shm-size bytes     Shared memory size for build containers",
        '  -t, --tag stringArray    Name and optionally a tag (format: "name:tag")',
        "",
      ].join("\n"),
    );
    expect(flagUsages(specs, 0)).toContain('--add-host strings   Add a custom host-to-IP mapping (format: "host:ip")\n');
  });
});
