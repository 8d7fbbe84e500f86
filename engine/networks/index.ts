/**
 * `engine/networks/`: networks' records and Docker's rules for them — the predefined bridge/host/none,
 * create with IPAM validation and address pools, remove, prune, endpoints (connect/disconnect) and the
 * inspect JSON, and the bridge datapath on the host (datapath.ts: bridges, veths, NAT). See README.md.
 */
export {
  DEFAULT_BRIDGE_DEVICE,
  NETWORK_PRUNE_FILTERS,
  PREDEFINED_NETWORKS,
  attachedNetworks,
  configureDefaultBridgeIPv6,
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
export { BridgeDatapath, bridgeSubnet, bridgeSubnet6, datapathNames, type DatapathNames, type IpFamily } from "./datapath.ts";
export { BuildBridge, buildBridgeNames, type BuildBridgeNames, type BuildStepLease } from "./build-bridge.ts";
export { dataRootTag, runHostCommand, withHostNetworkLock, type HostCommand } from "./host.ts";
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
