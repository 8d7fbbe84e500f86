// The digest type and helpers live in base/oci/ (shared with the buildx plugin's registry client).
export * from "../base/oci/digest.ts";
