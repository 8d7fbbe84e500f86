export type { DiagnosticArea, DiagnosticId, DiagnosticSpec, ParamsOf } from "./types.ts";
export { catalogue, type Catalogue, type KnownDiagnosticId } from "./catalogue.ts";
export {
  HtkError,
  htkError,
  isHtkError,
  isCancellation,
  toHtkError,
  causeChain,
  renderError,
  type ErrorDetails,
  type HtkErrorOptions,
} from "./htk-error.ts";
export { didYouMean } from "./did-you-mean.ts";
