import type { HttpMethod, Route } from "./types.ts";

interface CompiledRoute {
  readonly route: Route;
  readonly regex: RegExp;
  readonly names: readonly string[];
}

export type RouteMatch =
  | { readonly kind: "found"; readonly route: Route; readonly params: Readonly<Record<string, string>> }
  | { readonly kind: "method-not-allowed"; readonly allowed: readonly HttpMethod[] }
  | { readonly kind: "not-found" };

/** Matches a request to a route. HEAD falls back to the GET route of the same path, as Go's mux does. */
export class Router {
  readonly #routes: CompiledRoute[];

  constructor(routes: readonly Route[]) {
    this.#routes = routes.map((route) => {
      const names: string[] = [];
      const source = route.pattern
        .split("/")
        .map((seg) => {
          const m = /^\{([A-Za-z]+)(:\.\*)?\}$/.exec(seg);
          if (m === null) return seg.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
          names.push(m[1] ?? "");
          // `{name:.*}` (gorilla/mux's form, as Docker's image routes use it) spans slashes:
          // image names have them ("127.0.0.1:5000/team/app").
          return m[2] !== undefined ? "(.+)" : "([^/]+)";
        })
        .join("/");
      return { route, names, regex: new RegExp(`^${source}/?$`) };
    });
  }

  match(method: HttpMethod, path: string): RouteMatch {
    const allowed: HttpMethod[] = [];
    let headFallback: RouteMatch | undefined;
    for (const c of this.#routes) {
      const m = c.regex.exec(path);
      if (m === null) continue;
      const params: Record<string, string> = {};
      c.names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1] ?? "")));
      if (c.route.method === method) return { kind: "found", route: c.route, params };
      if (method === "HEAD" && c.route.method === "GET") headFallback = { kind: "found", route: c.route, params };
      allowed.push(c.route.method);
    }
    if (headFallback !== undefined) return headFallback;
    return allowed.length > 0 ? { kind: "method-not-allowed", allowed } : { kind: "not-found" };
  }
}
