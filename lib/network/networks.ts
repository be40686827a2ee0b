/**
 * ctr's networks: the default network `bridge` (bridge ctr0, 10.123.0.0/16)
 * and user-defined ones, each with its own bridge and subnet. Records of
 * user-defined networks live in `<root>/networks.json`, changed under the
 * flock of `<root>/networks.lock`; the leases of each network are in the
 * state directory (see ipam.ts).
 *
 * A network's bridge is created when its first container joins (bridge.ts)
 * and deleted when the network is removed, not when its last container
 * leaves.
 * @module
 */

import { FileLock } from "../os/lock.ts";
import { writeAtomic } from "../os/atomic.ts";
import { randomHex } from "../config/names.ts";
import {
  checkGateway,
  conflictingRoute,
  formatSubnet,
  intToIpv4,
  type Lease,
  Leases,
  type Network,
  ownerAlive,
  parseSubnet,
  routeText,
  splitSubnet,
  type Subnet,
  subnetsOverlap,
} from "./ipam.ts";
import { checkLinkName, type Route, Rtnl } from "./link.ts";
import { parseBridgeOptions } from "./bridge_options.ts";

/** The network a container joins when it names none. */
export const DEFAULT_NETWORK = "bridge";
/** The default network's bridge. */
export const DEFAULT_BRIDGE = "ctr0";
/**
 * The default network's subnet: clear of docker's 172.17.0.0/16 (and its
 * pools in 172.16.0.0/12 and 192.168.0.0/16), podman's 10.88.0.0/16 and
 * 10.89.x.0/24, and Kubernetes' usual 10.42-10.43, 10.96-10.111, 10.244.
 */
export const DEFAULT_SUBNET = "10.123.0.0/16";
/** User-defined networks without a subnet get the first free /24 of this range. */
export const NETWORK_POOL = "10.124.0.0/16";
/** Every ctr bridge's name starts with this (the isolation rules match it). */
export const BRIDGE_PREFIX = "ctr";

/** Names a user-defined network cannot take (run's --net values). */
const RESERVED = new Set([DEFAULT_NETWORK, "host", "none", "private", "default"]);

/** How the store is set up. */
export interface NetworkStoreOptions {
  /** ctr's store (`--root`): networks.json. */
  readonly root: string;
  /** ctr's runtime state (`--state-dir`): networks/<name>.json leases. */
  readonly stateDir: string;
  /** The default network's bridge, subnet and gateway, when not ctr0 and 10.123.0.0/16. */
  readonly defaultNetwork?: { bridge?: string; subnet?: string; gateway?: string };
  /** The range user-defined networks draw /24s from. */
  readonly pool?: string;
  /** The host's routes (default: the main table, over rtnetlink); tests pass their own. */
  readonly routes?: () => Route[];
}

/** What `network create` takes. */
export interface CreateNetworkOptions {
  readonly name: string;
  /** IPv4 CIDR; the first free /24 of the pool when left out. */
  readonly subnet?: string;
  /** The first address of the subnet when left out. */
  readonly gateway?: string;
  /** `ctr-` and 11 hex digits of the id when left out. */
  readonly bridge?: string;
  /** Labels to record with the network. */
  readonly labels?: Readonly<Record<string, string>>;
  /** The bridge driver's options (docker's keys, see bridge_options.ts). */
  readonly options?: Readonly<Record<string, string>>;
  /** No route out of the network (`--internal`). */
  readonly internal?: boolean;
  /** `--attachable`, recorded. */
  readonly attachable?: boolean;
}

interface RecordsFile {
  version: 1;
  networks: Network[];
}

/** Throws unless `name` can name a user-defined network. */
export function checkNetworkName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(name)) {
    throw new Error(
      `Invalid network name ${JSON.stringify(name)}: letters, digits, '_', '.' and '-', ` +
        "starting with a letter or digit, at most 63",
    );
  }
}

/** Throws unless `name` can be a ctr bridge. */
export function checkBridgeName(name: string): void {
  checkLinkName(name, "use bridge");
  if (!name.startsWith(BRIDGE_PREFIX)) {
    throw new Error(
      `Invalid bridge name ${JSON.stringify(name)}: it must start with "${BRIDGE_PREFIX}" ` +
        "(the rules that keep ctr's networks apart match the bridges by that prefix)",
    );
  }
}

function hostRoutes(): Route[] {
  using net = Rtnl.open();
  return net.listRoutes();
}

/** The networks of one ctr store and their leases. */
export class NetworkStore {
  readonly root: string;
  readonly stateDir: string;
  readonly #default: Network;
  readonly #pool: Subnet;
  readonly #routes: () => Route[];

  constructor(opts: NetworkStoreOptions) {
    this.root = opts.root;
    this.stateDir = opts.stateDir;
    this.#routes = opts.routes ?? hostRoutes;
    this.#pool = parseSubnet(opts.pool ?? NETWORK_POOL);
    const d = opts.defaultNetwork ?? {};
    const subnet = parseSubnet(d.subnet ?? DEFAULT_SUBNET);
    const gateway = d.gateway ?? intToIpv4(subnet.base + 1);
    checkGateway(subnet, gateway);
    const bridge = d.bridge ?? DEFAULT_BRIDGE;
    checkBridgeName(bridge);
    this.#default = {
      name: DEFAULT_NETWORK,
      id: "0".repeat(64),
      bridge,
      subnet: formatSubnet(subnet),
      gateway,
      created: new Date(0).toISOString(),
      builtin: true,
    };
  }

  /** `<root>/networks.json`. */
  get recordsPath(): string {
    return `${this.root}/networks.json`;
  }

  /** `<stateDir>/networks`: the leases. */
  get leasesDir(): string {
    return `${this.stateDir}/networks`;
  }

  /** The host's routes (main table). */
  hostRoutes(): Route[] {
    return this.#routes();
  }

  #records(): Network[] {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.recordsPath);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    try {
      const file = JSON.parse(text) as RecordsFile;
      if (!Array.isArray(file?.networks)) throw new Error('no "networks" list');
      return file.networks;
    } catch (e) {
      throw new Error(`Cannot read the networks in ${this.recordsPath}: ${(e as Error).message}`);
    }
  }

  #writeRecords(networks: Network[]): void {
    const file: RecordsFile = { version: 1, networks };
    writeAtomic(this.recordsPath, JSON.stringify(file, null, 2) + "\n");
  }

  async #locked<T>(fn: () => T | Promise<T>): Promise<T> {
    Deno.mkdirSync(this.root, { recursive: true, mode: 0o711 });
    const lock = await FileLock.acquire(`${this.root}/networks.lock`, "exclusive");
    try {
      return await fn();
    } finally {
      lock.release();
    }
  }

  /** Every network, the default first. */
  list(): Network[] {
    return [this.#default, ...this.#records()];
  }

  /** A network by name, or undefined. */
  find(name: string): Network | undefined {
    return this.list().find((n) => n.name === name);
  }

  /** A network by name; throws "No such network" when there is none. */
  get(name: string): Network {
    const n = this.find(name);
    if (!n) throw new Error(`No such network: ${name}`);
    return n;
  }

  /** The leases of a network. */
  leases(network: string | Network): Leases {
    return new Leases(this.leasesDir, typeof network === "string" ? this.get(network) : network);
  }

  /** A network with the containers that hold live leases in it. */
  inspect(name: string): { network: Network; containers: Lease[] } {
    const network = this.get(name);
    return { network, containers: this.leases(network).list().filter(ownerAlive) };
  }

  /**
   * Throws when `subnet` overlaps a host route (but the default route and
   * the routes through `ownBridge`): the containers could not reach what
   * that route leads to.
   */
  checkHostRoutes(name: string, subnet: string, ownBridge?: string): void {
    const route = conflictingRoute(parseSubnet(subnet), this.hostRoutes(), ownBridge);
    if (route) {
      throw new Error(
        `Subnet ${subnet} of network ${name} overlaps the host route ${routeText(route)}: ` +
          "choose another subnet",
      );
    }
  }

  /** Creates a user-defined network (its bridge comes with its first container). */
  async create(opts: CreateNetworkOptions): Promise<Network> {
    checkNetworkName(opts.name);
    if (RESERVED.has(opts.name)) {
      throw new Error(`Cannot create network ${opts.name}: the name is reserved`);
    }
    const options = parseBridgeOptions(opts.options);
    return await this.#locked(() => {
      const records = this.#records();
      const all = [this.#default, ...records];
      if (all.some((n) => n.name === opts.name)) {
        throw new Error(`Cannot create network ${opts.name}: a network of that name exists`);
      }
      const routes = this.hostRoutes();
      let subnet: Subnet;
      if (opts.subnet !== undefined) {
        subnet = parseSubnet(opts.subnet);
        const other = all.find((n) => subnetsOverlap(subnet, parseSubnet(n.subnet)));
        if (other) {
          throw new Error(
            `Cannot create network ${opts.name}: subnet ${opts.subnet} overlaps network ` +
              `${other.name} (${other.subnet})`,
          );
        }
        this.checkHostRoutes(opts.name, opts.subnet);
      } else {
        const free = [...splitSubnet(this.#pool, 24)].find((s) =>
          !all.some((n) => subnetsOverlap(s, parseSubnet(n.subnet))) &&
          !conflictingRoute(s, routes)
        );
        if (!free) {
          throw new Error(
            `Cannot create network ${opts.name}: no free /24 left in ${
              formatSubnet(this.#pool)
            }; ` +
              "give a subnet",
          );
        }
        subnet = free;
      }
      const gateway = opts.gateway ?? intToIpv4(subnet.base + 1);
      checkGateway(subnet, gateway);
      const id = randomHex(32);
      const bridge = opts.bridge ?? options.bridge ?? `${BRIDGE_PREFIX}-${id.slice(0, 11)}`;
      checkBridgeName(bridge);
      const clash = all.find((n) => n.bridge === bridge);
      if (clash) {
        throw new Error(
          `Cannot create network ${opts.name}: bridge ${bridge} belongs to network ${clash.name}`,
        );
      }
      const network: Network = {
        name: opts.name,
        id,
        bridge,
        subnet: formatSubnet(subnet),
        gateway,
        created: new Date().toISOString(),
        ...(opts.labels && Object.keys(opts.labels).length > 0 && { labels: { ...opts.labels } }),
        ...(opts.options && Object.keys(opts.options).length > 0 &&
          { options: { ...opts.options } }),
        ...(opts.internal && { internal: true }),
        ...(opts.attachable && { attachable: true }),
      };
      this.#writeRecords([...records, network]);
      return network;
    });
  }

  /**
   * Removes a user-defined network and deletes its bridge. Refused while a
   * live container holds an address in it; stale leases go with it.
   */
  async remove(name: string): Promise<void> {
    if (name === DEFAULT_NETWORK) {
      throw new Error(`Cannot remove network ${name}: it is ctr's default network`);
    }
    await this.#locked(async () => {
      const records = this.#records();
      const network = records.find((n) => n.name === name);
      if (!network) throw new Error(`No such network: ${name}`);
      const leases = this.leases(network);
      await leases.update((list) => {
        const live = list.filter(ownerAlive);
        if (live.length > 0) {
          throw new Error(
            `Cannot remove network ${name}: in use by ${
              live.length === 1 ? "container" : "containers"
            } ` +
              live.map((l) => l.containerId.slice(0, 12)).join(", "),
          );
        }
        list.length = 0;
      });
      deleteBridge(network.bridge);
      // The lease file and its lock file go with the network.
      for (const f of [leases.path, leases.lockPath]) {
        try {
          Deno.removeSync(f);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
      }
      this.#writeRecords(records.filter((n) => n !== network));
    });
  }
}

/** Deletes a bridge of ctr's when it exists; anything else of that name is left alone. */
export function deleteBridge(name: string): boolean {
  checkBridgeName(name);
  using net = Rtnl.open();
  const link = net.findLink(name);
  if (!link) return false;
  if (link.kind !== "bridge") {
    throw new Error(`Cannot delete bridge ${name}: it is a ${link.kind ?? "device"}, not a bridge`);
  }
  net.deleteLink(name);
  return true;
}
