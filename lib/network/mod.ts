/**
 * Container networks: bridge networks with their leases, veth pairs, packet
 * filter rules (nft, else iptables), published ports (DNAT and a userspace
 * proxy) and the hosts, resolv.conf and hostname files. See docs/network.md.
 *
 * ```ts
 * import { attachContainer, Nat, NetworkStore, parsePortSpecs } from "./lib/network/mod.ts";
 * const store = new NetworkStore({ root: "/var/lib/ctr", stateDir: "/run/ctr" });
 * const nat = new Nat({ stateDir: "/run/ctr" });
 * // phase 0: the container's pid is known, its first process waits
 * const net = await attachContainer({
 *   store, nat, containerId: id, pid, network: "bridge", hostname: "box",
 *   ports: parsePortSpecs(["8080:80"]), filesDir: containerDir,
 * });
 * for (const w of net.warnings) console.error(`ctr: warning: ${w}`);
 * // ... the container runs; after it exits:
 * await net.teardown();
 * ```
 * @module
 */

export {
  attachContainer,
  type Attachment,
  type AttachOptions,
  detachContainer,
  type DetachOptions,
  ensureBridge,
  macFor,
  pruneNetworks,
  reclaimStale,
  renameOnNetwork,
  vethName,
} from "./bridge.ts";
export {
  chooseAddress,
  type Lease,
  Leases,
  type Network,
  ownerAlive,
  parseSubnet,
  processStartTime,
} from "./ipam.ts";
export {
  BRIDGE_PREFIX,
  checkNetworkName,
  type CreateNetworkOptions,
  DEFAULT_BRIDGE,
  DEFAULT_NETWORK,
  DEFAULT_SUBNET,
  deleteBridge,
  NETWORK_POOL,
  NetworkStore,
  type NetworkStoreOptions,
} from "./networks.ts";
export {
  detectBackend,
  Nat,
  NAT_NEEDS_BACKEND,
  type NatBackend,
  type NatOptions,
  NOT_ISOLATED,
  PORTS_NEED_BACKEND,
  readForwarding,
} from "./nat.ts";
export {
  checkPortClashes,
  formatPort,
  parsePortSpec,
  parsePortSpecs,
  type PortMapping,
  type PortProtocol,
} from "./ports.ts";
export { type PortProxy, startProxies, startProxy, stopProxies } from "./proxy.ts";
export {
  hostResolvConfPath,
  hostsContent,
  networkFilePaths,
  type NetworkFiles,
  type NetworkFilesOptions,
  resolvConfContent,
  writeNetworkFiles,
} from "./resolv.ts";
