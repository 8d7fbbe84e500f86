/**
 * Go's text/tabwriter (elastic tabstops), as buildx and the docker CLI format their tables with it:
 * cells are tab-terminated; tab-terminated cells in contiguous lines form a column, padded to its
 * widest cell plus `padding` (at least `minwidth`); the text after a line's last tab is not part of
 * any column. Padding with spaces only. `docker buildx ls` uses docker's formatter (minwidth 10,
 * padding 3); `inspect` uses (0, 1).
 */
export function tabwrite(text: string, opts: { readonly minwidth: number; readonly padding: number; readonly tabPadding?: number }): string {
  // padchar '\t' (buildx du/prune use tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)): cells end at the next
  // multiple of the tab width, padded with tabs.
  const tab = opts.tabPadding;
  const pad = (cell: string, w: number): string => {
    if (tab === undefined) return " ".repeat(Math.max(0, w - width(cell)));
    const cellw = Math.ceil(w / tab) * tab;
    return "\t".repeat(Math.ceil((cellw - width(cell)) / tab));
  };
  const hasFinalNewline = text.endsWith("\n");
  const rawLines = (hasFinalNewline ? text.slice(0, -1) : text).split("\n");
  const lines = rawLines.map((l) => l.split("\t"));
  let out = "";
  const widths: number[] = [];

  const writeLines = (line0: number, line1: number): void => {
    for (let i = line0; i < line1; i++) {
      const cells = lines[i] as string[];
      cells.forEach((c, j) => {
        out += c;
        const w = widths[j];
        // Only tab-terminated cells (all but the last) are padded.
        if (j < cells.length - 1 && w !== undefined) out += pad(c, w);
      });
      if (i < lines.length - 1 || hasFinalNewline) out += "\n";
    }
  };

  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    for (let t = line0; t < line1; t++) {
      if (column >= (lines[t] as string[]).length - 1) continue;
      writeLines(start, t);
      start = t;
      let w = opts.minwidth;
      for (; t < line1; t++) {
        const cells = lines[t] as string[];
        if (column >= cells.length - 1) break;
        w = Math.max(w, width(cells[column] as string) + opts.padding);
      }
      widths.push(w);
      format(start, t);
      widths.pop();
      start = t;
      t--;
    }
    writeLines(start, line1);
  };

  format(0, lines.length);
  return out;
}

/** Display width in code points (docker's fork counts East Asian wide runes twice; ours are ASCII). */
function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}
