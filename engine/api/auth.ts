import { htkError } from "../../base/errors/index.ts";
import { credentialsOf, type CredentialSource } from "../../base/registry/index.ts";
import type { EngineServices } from "../daemon/services.ts";
import { readJsonBody } from "./images-params.ts";
import { authConfigFrom, withRegistryStatus } from "./registry-auth.ts";
import { sendJson } from "./respond.ts";
import type { Route } from "./types.ts";

/**
 * `POST /auth` (docker login): the credentials are checked against the registry with `GET /v2/`
 * (Basic, or a token from the registry's token server, asked for an offline token as Docker does);
 * `{"IdentityToken": …, "Status": "Login Succeeded"}` when accepted, Docker's "login attempt to …
 * failed with status: 401 Unauthorized" when refused. Nothing is stored on the engine: the CLI keeps
 * the credentials and sends them with each pull and push.
 */
export function authRoutes(services: EngineServices): Route[] {
  return [
    {
      method: "POST",
      pattern: "/auth",
      query: [],
      handle: (ctx) => withRegistryStatus(ctx, async () => {
        const body = await readJsonBody(ctx);
        const config = authConfigFrom(body ?? {});
        if (config === undefined) throw htkError("HTK-ENGINE-0319", { detail: "expected an object with username, password and serveraddress" });
        const domain = loginDomain(config.serveraddress ?? "");
        const creds = credentialsOf(config);
        const source: CredentialSource = { get: () => Promise.resolve(creds) };
        const r = await services.registry.withCredentials(source).login(domain, { signal: ctx.signal });
        if (r.status !== 200) throw htkError("HTK-REGISTRY-0053", { endpoint: r.endpoint, status: r.status === 401 ? "401 Unauthorized" : String(r.status), host: domain });
        sendJson(ctx.res, 200, { IdentityToken: r.identityToken ?? "", Status: "Login Succeeded" });
      }),
    },
  ];
}

/**
 * The registry a login is for, as dockerd's `Service.Auth` reads `serveraddress`: the host of the
 * address (a scheme is optional, a path ignored); empty or Docker Hub's legacy URL mean docker.io.
 */
export function loginDomain(serverAddress: string): string {
  if (serverAddress.trim() === "") return "docker.io";
  const withScheme = /^https?:\/\//.test(serverAddress) ? serverAddress : `https://${serverAddress}`;
  let host: string;
  try {
    host = new URL(withScheme).host;
  } catch {
    host = serverAddress;
  }
  return host === "index.docker.io" || host === "registry-1.docker.io" || host === "docker.io" ? "docker.io" : host;
}
