import { describe, expect, it } from "vitest";
import { isHtkError } from "../errors/index.ts";
import { cleanPath, compile, readDockerignore, type DockerignoreMatcher, type MatchInfo } from "./patterns.ts";

/** How the walker asks: each parent directory first, passing its match info down. */
function walkerSays(m: DockerignoreMatcher, path: string): boolean {
  const parts = path.split("/");
  let info: MatchInfo | undefined;
  for (let i = 1; i < parts.length; i++) info = m.matchesUsingParentResults(parts.slice(0, i).join("/"), info).info;
  return m.matchesUsingParentResults(path, info).excluded;
}

type Kind = "exact" | "inexact" | "fail";

// moby/patternmatcher TestMatches (Linux rows).
const SINGLE: Array<[string, string, Kind]> = [
  ["**", "file", "exact"], ["**", "file/", "exact"], ["**/", "file", "exact"], ["**/", "file/", "exact"],
  ["**", "/", "exact"], ["**/", "/", "exact"], ["**", "dir/file", "exact"], ["**/", "dir/file", "exact"],
  ["**", "dir/file/", "exact"], ["**/", "dir/file/", "exact"], ["**/**", "dir/file", "exact"],
  ["**/**", "dir/file/", "exact"], ["dir/**", "dir/file", "exact"], ["dir/**", "dir/file/", "exact"],
  ["dir/**", "dir/dir2/file", "exact"], ["dir/**", "dir/dir2/file/", "exact"], ["**/dir", "dir", "exact"],
  ["**/dir", "dir/file", "inexact"], ["**/dir2/*", "dir/dir2/file", "exact"], ["**/dir2/*", "dir/dir2/file/", "inexact"],
  ["**/dir2/**", "dir/dir2/dir3/file", "exact"], ["**/dir2/**", "dir/dir2/dir3/file/", "exact"],
  ["**file", "file", "exact"], ["**file", "dir/file", "exact"], ["**/file", "dir/file", "exact"],
  ["**file", "dir/dir/file", "exact"], ["**/file", "dir/dir/file", "exact"], ["**/file*", "dir/dir/file", "exact"],
  ["**/file*", "dir/dir/file.txt", "exact"], ["**/file*txt", "dir/dir/file.txt", "exact"],
  ["**/file*.txt", "dir/dir/file.txt", "exact"], ["**/file*.txt*", "dir/dir/file.txt", "exact"],
  ["**/**/*.txt", "dir/dir/file.txt", "exact"], ["**/**/*.txt2", "dir/dir/file.txt", "fail"],
  ["**/*.txt", "file.txt", "exact"], ["**/**/*.txt", "file.txt", "exact"], ["a**/*.txt", "a/file.txt", "exact"],
  ["a**/*.txt", "a/dir/file.txt", "exact"], ["a**/*.txt", "a/dir/dir/file.txt", "exact"],
  ["a/*.txt", "a/dir/file.txt", "fail"], ["a/*.txt", "a/file.txt", "exact"], ["a/*.txt**", "a/file.txt", "exact"],
  ["a[b-d]e", "ae", "fail"], ["a[b-d]e", "ace", "exact"], ["a[b-d]e", "aae", "fail"], ["a[^b-d]e", "aze", "exact"],
  [".*", ".foo", "exact"], [".*", "foo", "fail"], ["abc.def", "abcdef", "fail"], ["abc.def", "abc.def", "exact"],
  ["abc.def", "abcZdef", "fail"], ["abc?def", "abcZdef", "exact"], ["abc?def", "abcdef", "fail"],
  ["**/foo/bar", "foo/bar", "exact"], ["**/foo/bar", "dir/foo/bar", "exact"], ["**/foo/bar", "dir/dir2/foo/bar", "exact"],
  ["abc/**", "abc", "fail"], ["abc/**", "abc/def", "exact"], ["abc/**", "abc/def/ghi", "exact"],
  ["**/.foo", ".foo", "exact"], ["**/.foo", "bar.foo", "fail"], ["a(b)c/def", "a(b)c/def", "exact"],
  ["a(b)c/def", "a(b)c/xyz", "fail"], ["a.|)$(}+{bc", "a.|)$(}+{bc", "exact"],
  ["dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact"],
  ["dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact"],
  ["a\\\\", "a\\", "exact"], ["a\\*b", "a*b", "exact"],
];

const MULTI: Array<[string[], string, Kind]> = [
  [["**", "!util/docker/web"], "util/docker/web/foo", "fail"],
  [["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", "exact"],
  [["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "fail"],
  [["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "fail"],
];

// Go's filepath.Match table as patternmatcher runs it through the deprecated Matches.
const GO_MATCH: Array<[string, string, boolean | "error"]> = [
  ["abc", "abc", true], ["*", "abc", true], ["*c", "abc", true], ["a*", "a", true], ["a*", "abc", true],
  ["a*", "ab/c", true], ["a*/b", "abc/b", true], ["a*/b", "a/c/b", false], ["a*b*c*d*e*/f", "axbxcxdxe/f", true],
  ["a*b*c*d*e*/f", "axbxcxdxexxx/f", true], ["a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false],
  ["a*b*c*d*e*/f", "axbxcxdxexxx/fff", false], ["a*b?c*x", "abxbbxdbxebxczzx", true],
  ["a*b?c*x", "abxbbxdbxebxczzy", false], ["ab[c]", "abc", true], ["ab[b-d]", "abc", true], ["ab[e-g]", "abc", false],
  ["ab[^c]", "abc", false], ["ab[^b-d]", "abc", false], ["ab[^e-g]", "abc", true], ["a\\*b", "a*b", true],
  ["a\\*b", "ab", false], ["a?b", "a☺b", true], ["a[^a]b", "a☺b", true], ["a???b", "a☺b", false],
  ["a[^a][^a][^a]b", "a☺b", false], ["[a-ζ]*", "α", true], ["*[a-ζ]", "A", false], ["a?b", "a/b", false],
  ["a*b", "a/b", false], ["[\\]a]", "]", true], ["[\\-]", "-", true], ["[x\\-]", "x", true], ["[x\\-]", "-", true],
  ["[x\\-]", "z", false], ["[\\-x]", "x", true], ["[\\-x]", "-", true], ["[\\-x]", "a", false], ["[]a]", "]", "error"],
  ["[-]", "-", "error"], ["[x-]", "x", "error"], ["[-x]", "x", "error"], ["\\", "a", "error"], ["[a-b-c]", "a", "error"],
  ["[", "a", "error"], ["[^", "a", "error"], ["[^bc", "a", "error"], ["a[", "a", "error"], ["a[", "ab", "error"],
  ["*x", "xxx", true],
];

describe("moby/patternmatcher parity", () => {
  it.each(SINGLE)("%s vs %s (%s)", (pattern, text, kind) => {
    const m = compile([pattern]);
    expect(m.matchesExact(text)).toBe(kind === "exact");
    expect(m.matchesOrParentMatches(text)).toBe(kind !== "fail");
    expect(walkerSays(m, text)).toBe(kind !== "fail");
    expect(m.matchesUsingParentResults(text, undefined).excluded).toBe(kind !== "fail");
  });

  it.each(MULTI)("%j vs %s (%s)", (patterns, text, kind) => {
    const m = compile(patterns);
    expect(m.matchesOrParentMatches(text)).toBe(kind !== "fail");
    expect(walkerSays(m, text)).toBe(kind !== "fail");
  });

  it.each(GO_MATCH)("Matches(%s, %s) = %s", (pattern, text, want) => {
    if (want === "error") {
      let err: unknown;
      try {
        compile([pattern]);
      } catch (e) {
        err = e;
      }
      expect(isHtkError(err, "HTK-DOCKERFILE-0110")).toBe(true);
      return;
    }
    expect(compile([pattern]).matches(text)).toBe(want);
  });

  it("keeps the deprecated Matches' blind spot, which the walker's rules do not have", () => {
    const m = compile(["**/x"]);
    expect(m.matches("x/y/z")).toBe(false);
    expect(m.matchesOrParentMatches("x/y/z")).toBe(true);
    expect(walkerSays(m, "x/y/z")).toBe(true);
  });

  it("handles exceptions: the last matching line wins, folders cover their contents", () => {
    expect(compile(["docs", "!docs/README.md"]).matchesOrParentMatches("docs/README.md")).toBe(false);
    expect(compile(["docs/", "!docs/README.md"]).matchesOrParentMatches("docs/README.md")).toBe(false);
    expect(compile(["docs/*", "!docs/README.md"]).matchesOrParentMatches("docs/README.md")).toBe(false);
    expect(compile(["*.go", "!fileutils.go"]).matchesOrParentMatches("fileutils.go")).toBe(false);
    expect(compile(["!fileutils.go", "*.go"]).matchesOrParentMatches("fileutils.go")).toBe(true);
    expect(compile(["docs"]).matchesOrParentMatches("docs/a/b/c.md")).toBe(true);
  });

  it("rejects a lone ! with HTK-DOCKERFILE-0110", () => {
    expect(() => compile(["!"], "ctx/.dockerignore")).toThrow(/HTK-DOCKERFILE-0110.*illegal exclusion pattern/);
    expect(() => compile(["[z-a]"])).toThrow(/HTK-DOCKERFILE-0110/);
  });

  it("passes Go regexp syntax through the way patternmatcher does", () => {
    // patternmatcher hands "\d" to Go's regexp, where it is a digit class, not a literal d.
    expect(compile(["v\\d"]).matchesExact("v1")).toBe(true);
    expect(compile(["v\\d"]).matchesExact("vd")).toBe(false);
    expect(compile(["[[:digit:]]x"]).matchesExact("7x")).toBe(true);
    // "*" never crosses "/", "**" does; Go's "." in "**" does not match a newline.
    expect(compile(["a/**/b"]).matchesExact("a/x/y/b")).toBe(true);
    expect(compile(["a/*/b"]).matchesExact("a/x/y/b")).toBe(false);
    expect(compile(["x/**/y*"]).matchesExact("x/a\nb/yz")).toBe(false);
    // A "^" outside a class anchors in Go's regexp, so this can never match once the line is a regexp.
    expect(compile(["a^*"]).matchesExact("a^b")).toBe(false);
    expect(compile(["a^b"]).matchesExact("a^b")).toBe(true);
  });
});

describe("Docker vs gitignore", () => {
  it("anchors patterns at the context root", () => {
    const m = compile(["*.go"]);
    expect(m.matchesOrParentMatches("main.go")).toBe(true);
    // gitignore would ignore a/b.go too.
    expect(m.matchesOrParentMatches("a/b.go")).toBe(false);
    expect(compile(["**/*.go"]).matchesOrParentMatches("a/b.go")).toBe(true);
  });

  it("does not treat a trailing slash as directory-only, nor a middle slash specially", () => {
    // gitignore: "build/" matches directories only, anywhere. Docker: cleaned to "build" at the root.
    const m = compile(readDockerignore("build/\n"));
    expect(m.matchesOrParentMatches("build")).toBe(true);
    expect(m.matchesOrParentMatches("src/build")).toBe(false);
    // gitignore: "foo" with no slash matches at any depth; Docker: only at the root.
    expect(compile(["node_modules"]).matchesOrParentMatches("web/node_modules/x")).toBe(false);
  });

  it("lets an exception re-include a file inside an excluded folder (gitignore cannot)", () => {
    const m = compile(["build", "!build/keep.txt"]);
    expect(m.matchesOrParentMatches("build/keep.txt")).toBe(false);
    expect(m.matchesOrParentMatches("build/other.txt")).toBe(true);
  });
});

describe("readDockerignore (ignorefile.ReadAll)", () => {
  it("strips BOM, comments, blanks and spaces; cleans; drops a leading slash", () => {
    const text = "\uFEFF# comment\n\n  /foo/bar/../baz/  \r\n ! /keep//me \n #not a comment\n!\n/\n./a/./b\n../up\nlast";
    expect(readDockerignore(text)).toEqual(["foo/baz", "!keep/me", "#not a comment", "!", "/", "a/b", "../up", "last"]);
  });

  it("does not strip a BOM after the first line", () => {
    expect(readDockerignore("a\n\uFEFFb\n")).toEqual(["a", "\uFEFFb"]);
  });
});

describe("the walker's skip rule (fsutil)", () => {
  it("skips excluded directories unless a plain exception points inside them", () => {
    const m = compile(["node_modules", "build", "!build/keep"]);
    expect(m.canSkipExcludedDir("node_modules")).toBe(true);
    expect(m.canSkipExcludedDir("build")).toBe(false);
    expect(m.canSkipExcludedDir("build/sub")).toBe(true);
    expect(compile(["a"]).canSkipExcludedDir("a")).toBe(true);
  });

  it("always descends when an exception has a glob", () => {
    const m = compile(["node_modules", "!**/*.md"]);
    expect(m.canSkipExcludedDir("node_modules")).toBe(false);
    // a trailing /* or /** does not count as a glob
    expect(compile(["a", "!a/b/**"]).canSkipExcludedDir("a")).toBe(false);
    expect(compile(["a", "!a/b/**"]).canSkipExcludedDir("c")).toBe(true);
  });
});

describe("cleanPath (Go filepath.Clean)", () => {
  it.each([
    ["", "."], ["a/b/../c", "a/c"], ["/../a", "/a"], ["../../a", "../../a"], ["a/..", "."], ["//a//b/", "/a/b"], ["./", "."],
  ])("%s → %s", (input, want) => {
    expect(cleanPath(input)).toBe(want);
  });
});
