/**
 * BuildKit's `util/suggest.Search`, used for the "(did you mean …?)" tails of UndefinedArgInFrom and
 * UndefinedVar. Its rule differs from base/errors' `didYouMean` on purpose: plain Levenshtein distance
 * over code points, a candidate must be closer than 3 edits, the first strictly closer one wins, and an
 * exact match (possible when case-insensitive) is returned as is. Case-insensitive search answers in the
 * casing of the word asked about when that word is all lower or all upper case.
 */
export function suggest(word: string, options: Iterable<string>, caseSensitive: boolean): string | undefined {
  const val = caseSensitive ? word : word.toLowerCase();
  let match: string | undefined;
  let minDist = 3;
  for (const candidate of options) {
    const opt = caseSensitive ? candidate : candidate.toLowerCase();
    if (opt === val) return caseSensitive ? opt : matchCase(opt, word);
    const d = levenshtein([...val], [...opt]);
    if (d < minDist) {
      match = caseSensitive ? opt : matchCase(opt, word);
      minDist = d;
    }
  }
  return match;
}

function matchCase(val: string, orig: string): string {
  if (orig === orig.toLowerCase()) return val.toLowerCase();
  if (orig === orig.toUpperCase()) return val.toUpperCase();
  return val;
}

function levenshtein(a: readonly string[], b: readonly string[]): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
