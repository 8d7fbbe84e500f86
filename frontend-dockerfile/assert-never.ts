/** The end of an exhaustive `switch` over a `kind`: a compile error when a case is missing, a bug at run time. */
export function assertNever(x: never): never {
  throw new Error(`BUG: unexpected node ${JSON.stringify(x)}`);
}
