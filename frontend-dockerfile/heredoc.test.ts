import { describe, expect, it } from "vitest";
import { chompHeredocContent, heredocsFromLine } from "./heredoc.ts";

describe("heredoc words (BuildKit heredocsFromLine)", () => {
  const cases: [string, [string, number, boolean, boolean][]][] = [
    ["RUN <<EOF", [["EOF", 0, true, false]]],
    ["RUN <<-'EOF'", [["EOF", 0, false, true]]],
    ['RUN <<E"O"F', [["EOF", 0, false, false]]],
    ["RUN <<\\EOF", [["EOF", 0, true, false]]],
    ["RUN <<$EOF", [["$EOF", 0, true, false]]],
    ["RUN 10<<EOF cat", [["EOF", 10, true, false]]],
    ["COPY <<A <<-B /dst", [["A", 0, true, false], ["B", 0, true, true]]],
    ['RUN <<""', []],
    ["RUN cat<<EOF", []],
    ["RUN <<EOF<<X", []],
    ['RUN "<<EOF"', []],
    ["RUN <<'unterminated", []],
    ["RUN echo no heredoc", []],
  ];
  for (const [line, want] of cases) {
    it(line, () => {
      const r = heredocsFromLine(line);
      expect(r.ok).toBe(true);
      expect(r.ok ? r.markers.map((m) => [m.name, m.fileDescriptor, m.expand, m.chomp]) : []).toEqual(want);
    });
  }

  it("chomps leading tabs of every line, only after \\n", () => {
    expect(chompHeredocContent("\t\ta\n\tb\r\n\t\tc\n  d\n")).toBe("a\nb\r\nc\n  d\n");
  });
});
