import { describe, expect, it } from "vitest";
import { tabwrite } from "./tabwriter.ts";

describe("Go's tabwriter", () => {
  it("aligns tab-terminated cells of contiguous lines; the last cell is not a column", () => {
    const text = "NAME/NODE\tDRIVER/ENDPOINT\tSTATUS\tBUILDKIT\tPLATFORMS\ndefault*\thatake\t\t\t\n \\_ default\t \\_ default\trunning\tv0.13.0\tlinux/amd64\n";
    expect(tabwrite(text, { minwidth: 10, padding: 3 })).toBe(
      [
        "NAME/NODE     DRIVER/ENDPOINT   STATUS    BUILDKIT   PLATFORMS",
        "default*      hatake                                 ",
        " \\_ default    \\_ default       running   v0.13.0    linux/amd64",
        "",
      ].join("\n"),
    );
  });

  it("ends a column block at a line with fewer cells (buildx inspect's sections)", () => {
    const text = "Name:\tx\nDriver:\thatake\n\nNodes:\nName:\tx0\nEndpoint:\tunix:///run/h.sock\n";
    expect(tabwrite(text, { minwidth: 0, padding: 1 })).toBe("Name:   x\nDriver: hatake\n\nNodes:\nName:     x0\nEndpoint: unix:///run/h.sock\n");
  });
});

describe("Go's tabwriter with tab padding (buildx du and prune)", () => {
  it("pads to the next tab stop with tabs", () => {
    expect(tabwrite("ID\tRECLAIMABLE\tSIZE\nabc\ttrue\t1kB\n", { minwidth: 1, padding: 1, tabPadding: 8 })).toBe("ID\tRECLAIMABLE\tSIZE\nabc\ttrue\t\t1kB\n");
  });
});
