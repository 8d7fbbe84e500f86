/**
 * `engine/networks/`: networks' records and Docker's rules for them — the predefined bridge/host/none,
 * create with IPAM validation and address pools, remove, prune, endpoints (connect/disconnect) and the
 * inspect JSON. Only state: nothing is created on the host yet (the datapath is later work). See README.md.
 */
export {
  DEFAULT_BRIDGE_DEVICE,
  NETWORK_PRUNE_FILTERS,
  PREDEFINED_NETWORKS,
  attachedNetworks,
  connectContainer,
  createNetwork,
  disconnectContainer,
  ensurePredefinedNetworks,
  isPredefined,
  networkJson,
  prunableNetworks,
  pruneNetworks,
  removeNetwork,
  type EndpointRequest,
  type NetworkCreateRequest,
} from "./networks.ts";
export {
  contains,
  defaultPools,
  formatAddress,
  formatPrefix,
  freeAddress,
  freeDefaultPool,
  ipamProblems,
  macForAddress,
  masked,
  overlaps,
  parseAddress,
  parsePrefix,
  type Address,
  type Family,
  type Prefix,
} from "./ipam.ts";
