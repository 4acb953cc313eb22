/**
 * Names of the kernel objects tsrun creates for networks. Interfaces and nft tables are
 * machine-wide, so every name carries something unique to its state root: a network's tag
 * (a hash of root and network id, checked unique under the subnet table's lock) or an
 * endpoint's random id, or a container's. tsrun owns every interface named `tsr-*` (bridges)
 * or `tsv*` (host ends of veth pairs) and every nft table `inet tsr-*` (a network's) or
 * `inet tsp*` (a container's published ports); repair removes those no lease names.
 * Interface names are at most 15 characters (IFNAMSIZ 16 with the NUL).
 */
export const BRIDGE_PREFIX = "tsr-";
export const VETH_PREFIX = "tsv";
export const PORT_TABLE_PREFIX = "tsp";
export const NFT_FAMILY = "inet";

export const bridgeName = (tag: string): string => `${BRIDGE_PREFIX}${tag}`;
export const tableName = (tag: string): string => `${BRIDGE_PREFIX}${tag}`;
export const vethName = (endpointId: string): string => `${VETH_PREFIX}${endpointId.slice(0, 12)}`;

/** A container's published-port table: `tsp` + 12 hex digits of its (random) id. */
export const portTableName = (containerId: string): string => `${PORT_TABLE_PREFIX}${containerId.slice(0, 12)}`;
/** The container-id prefix a port table is named for, if the name is one. */
export const containerOfPortTable = (name: string): string | undefined => /^tsp([0-9a-f]{12})$/.exec(name)?.[1];

export const isTag = (s: string): boolean => /^[0-9a-f]{8}$/.test(s);
export const tagOfKernelName = (name: string): string | undefined => {
  const tag = name.startsWith(BRIDGE_PREFIX) ? name.slice(BRIDGE_PREFIX.length) : "";
  return isTag(tag) ? tag : undefined;
};
export const isVethName = (name: string): boolean => /^tsv[0-9a-f]{12}$/.test(name);
