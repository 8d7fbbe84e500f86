// The registry client lives in base/registry/ (the buildx plugin's `imagetools` talks to registries
// from the client side, as buildx does); this entry stays so cache/ and engine/ keep importing it here.
export * from "../../base/registry/index.ts";
