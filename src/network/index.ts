/**
 * Bridge networks for containers: the network records of a state root, machine-wide subnet,
 * address and host-port tables, bridges, veth pairs, NAT, published ports (a proxy and DNAT),
 * and names through hosts files.
 * The engine uses `Networks` (see networks.ts for the attachment order and the locks).
 */
export { Networks, type NetworksOptions, type ReleaseOptions, type RepairReport } from "./networks.js";
export { checkCreateRequest, validateNetworkName, type CreateNetworkRequest } from "./create-request.js";
export { endpointSettings, inspectNetwork, type EndpointSettings, type NetworkInspect } from "./inspect.js";
export { IprouteKernel, type NetKernel } from "./kernel.js";
export { HOSTS_MARKER } from "./hosts.js";
export type { PublishRequest } from "./ports.js";
export {
  comparePortKeys,
  parseExpose,
  parsePublishList,
  splitPortKey,
  type PortBinding,
  type PortMap,
  type PortSet,
} from "./port-spec.js";
export {
  BUILTIN_NAMES,
  isBuiltinName,
  type AttachRequest,
  type Endpoint,
  type EndpointRecord,
  type IpamConfig,
  type NetworkRecord,
} from "./model.js";
