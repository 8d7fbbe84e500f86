/**
 * Image reference validation, as distribution/reference's `ParseNormalizedNamed` accepts them
 * (BuildKit parses the FROM base with it): lowercase path components separated by `.`, `_`, `__` or
 * dashes, an optional registry host with port, an optional tag and digest. Returns BuildKit's error
 * text for a reference it would reject, undefined for a valid one.
 */
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][A-Fa-f0-9]{32,}";
const REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);

export function referenceError(ref: string): string | undefined {
  if (ref === "") return "invalid reference format";
  const m = REFERENCE.exec(ref);
  if (m === null) {
    // distribution/reference names the upper-case case specially.
    const lower = REFERENCE.exec(ref.toLowerCase());
    if (lower !== null) return `invalid reference format: repository name (${ref.split(/[:@]/)[0] ?? ref}) must be lowercase`;
    return "invalid reference format";
  }
  if ((m[1] ?? "").length > 255) return "repository name must not be more than 255 characters";
  return undefined;
}
