/**
 * `base/registry/`: a Distribution API v2 client (pull into and push from a blob store: the cache's
 * ContentStore) with
 * Docker's rules for hosts, credentials, auth and retries. See README.md.
 */
export {
  RegistryClient,
  mapBounded,
  type PullOptions,
  type PullProgress,
  type PullResult,
  type PushOptions,
  type PushProgress,
  type PushResult,
  type RegistryClientOptions,
  type ResolvedReference,
} from "./client.ts";
export { challengeScopes, normalizeScopes, parseWwwAuthenticate, repositoryScope, type AuthChallenge } from "./auth-challenge.ts";
export {
  CredentialHelper,
  DockerConfigCredentials,
  NO_AUTH,
  anonymous,
  credentialsOf,
  decodeAuthEntry,
  keyHostname,
  staticCredentials,
  type AuthEntry,
  type CredentialSource,
  type Credentials,
  type DecodedAuth,
  type DockerConfigFile,
  type DockerConfigOptions,
} from "./credentials.ts";
export { Hosts, loadCertsDir, proxyFor, proxyFromEnv, type HostsOptions, type ProxySettings, type TlsMaterial } from "./hosts.ts";
export { classifyNetworkError, type NetworkFailure } from "./errors.ts";
export { DEFAULT_RETRY, retryDelay, type RetryPolicy } from "./session.ts";
export type { ContentStore } from "./blob-store.ts";
