// The OCI data model lives in base/oci/ (shared with the buildx plugin's registry client); this entry
// stays so cache/, solver/ and engine/ keep importing it from here.
export * from "../../base/oci/index.ts";
