/**
 * `WWW-Authenticate` parsing (RFC 7235 challenges, as the distribution token spec uses them):
 *
 *     Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull"
 *     Basic realm="Registry Realm"
 *
 * One header may carry several challenges and a response several headers; both are flattened into a
 * list. Quoted values may contain commas and backslash escapes. Malformed input yields fewer
 * challenges, never an exception (the header comes from the network).
 */
export interface AuthChallenge {
  /** Lower case: "bearer", "basic", … */
  readonly scheme: string;
  /** Parameter names are lower case (they are case-insensitive); values are unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

export function parseWwwAuthenticate(headers: string | readonly string[] | undefined): AuthChallenge[] {
  if (headers === undefined) return [];
  const list = typeof headers === "string" ? [headers] : headers;
  return list.flatMap(parseOne);
}

function parseOne(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipWs = (): void => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(header[i] ?? "")) i++;
    return header.slice(start, i);
  };
  const quoted = (): string | undefined => {
    // At the opening quote.
    i++;
    let value = "";
    while (i < n) {
      const c = header[i];
      if (c === "\\" && i + 1 < n) {
        value += header[i + 1];
        i += 2;
      } else if (c === '"') {
        i++;
        return value;
      } else {
        value += c;
        i++;
      }
    }
    return undefined;
  };

  let current: { scheme: string; params: Record<string, string> } | undefined;
  while (i < n) {
    skipWs();
    if (header[i] === ",") {
      i++;
      continue;
    }
    const start = i;
    const name = token();
    if (name === "") {
      // Not a token: skip one character so that garbage cannot loop forever.
      i = start + 1;
      continue;
    }
    skipWs();
    if (header[i] === "=") {
      i++;
      skipWs();
      let value: string | undefined;
      if (header[i] === '"') value = quoted();
      else value = token();
      if (value === undefined) break;
      // A parameter before any scheme has nothing to belong to.
      if (current !== undefined) current.params[name.toLowerCase()] = value;
      continue;
    }
    // A bare token starts a new challenge (token68 forms are not used by registries).
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}

/** The scopes a Bearer challenge asks for ("repository:a/b:pull repository:c:pull"): space separated. */
export function challengeScopes(c: AuthChallenge): string[] {
  const scope = c.params["scope"];
  return scope === undefined || scope === "" ? [] : scope.split(" ").filter((s) => s !== "");
}

/**
 * Merge repository scopes the way docker's token handler does: one entry per resource with the union
 * of its actions, sorted, so that the token cache key is the same however the scopes were gathered.
 */
export function normalizeScopes(scopes: readonly string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const s of scopes) {
    const last = s.lastIndexOf(":");
    if (last <= 0) {
      byResource.set(s, byResource.get(s) ?? new Set());
      continue;
    }
    const resource = s.slice(0, last);
    const actions = s.slice(last + 1).split(",").filter((a) => a !== "");
    const set = byResource.get(resource) ?? new Set<string>();
    for (const a of actions) set.add(a);
    byResource.set(resource, set);
  }
  return [...byResource.entries()]
    .map(([resource, actions]) => (actions.size === 0 ? resource : `${resource}:${[...actions].sort().join(",")}`))
    .sort();
}

/** "repository:library/busybox:pull" */
export function repositoryScope(path: string, actions: readonly ("pull" | "push")[]): string {
  return `repository:${path}:${[...new Set(actions)].sort().join(",")}`;
}
