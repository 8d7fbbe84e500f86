/**
 * `cache/`: the one way in. Content-addressed storage (`ContentStore`), reference counting of what may
 * not be deleted (`RefCounter`), and content keys of local files (`ContextHasher`, `diffChecksums`).
 * See README.md for what this folder owns and its on-disk layout.
 */
export type { Descriptor, DeleteResult, ExpectedBlob } from "./types.ts";
export { digestHex, isDigest, parseDigest, sha256Of, type Digest } from "../base/oci/digest.ts";
export { ContentStore, type ContentStoreOptions, type PutOptions, type PutSource, type StoreFs } from "./content-store.ts";
export {
  RefCounter,
  refKeyString,
  type AcquireOptions,
  type Lease,
  type LeaseInfo,
  type LeasePersistence,
  type RefCounterOptions,
  type RefKey,
} from "./refs.ts";
export {
  ContextHasher,
  checksum,
  diffChecksums,
  type ChangeField,
  type ChecksumChange,
  type ChecksumOptions,
  type ChecksumTree,
  type ContextHasherOptions,
  type HashFs,
  type HashStats,
  type NodeRecord,
  type NodeType,
  type ReadHandle,
} from "./context-hash.ts";
export { componentRegExp, expandPattern, hasMeta, unescapeLiteral } from "./glob.ts";
