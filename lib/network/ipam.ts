/**
 * IP address management of bridge networks: IPv4 subnet arithmetic, the
 * choice of a container's address (lowest free, or a fixed `--ip`), leases
 * kept in one JSON file per network and changed only under an exclusive
 * flock (so parallel starts never get the same address), and the reclaim of
 * leases whose container is gone.
 *
 * A lease's owner is a container id and the pid and start time of its first
 * process (/proc/PID/stat field 22): a lease whose pid is gone, or was reused
 * by another process, is stale and is reclaimed by the next allocation.
 *
 *     <stateDir>/networks/<network>.json   the leases of one network
 *     <stateDir>/networks/<network>.lock   its flock
 * @module
 */

import { AF } from "../../ffi/constants.ts";
import { FileLock } from "../os/lock.ts";
import { sweepTemp, writeAtomic } from "../os/atomic.ts";
import { processStartTime } from "../os/proc.ts";
import { randomHex } from "../config/names.ts";
import { parseIp, type Route } from "./link.ts";

export { processStartTime };

// ---------------------------------------------------------------------------
// IPv4 arithmetic (addresses as unsigned 32-bit numbers)

/** An IPv4 subnet: its first address and prefix length. */
export interface Subnet {
  /** The network address, as an unsigned 32-bit number. */
  readonly base: number;
  readonly prefixLen: number;
}

/** Parses a dotted IPv4 address into an unsigned 32-bit number; throws on anything else. */
export function ipv4ToInt(text: string): number {
  const ip = parseIp(text);
  if (ip.family !== AF.INET) throw new Error(`Not an IPv4 address: ${JSON.stringify(text)}`);
  const [a, b, c, d] = ip.bytes;
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** Formats an unsigned 32-bit number as a dotted IPv4 address. */
export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}

/** The netmask of a prefix length, as an unsigned 32-bit number. */
function mask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** The shortest prefix a network may have, and the longest (network, gateway, one host, broadcast). */
export const SUBNET_PREFIX = { min: 8, max: 30 } as const;

/**
 * Parses an IPv4 subnet in CIDR notation. The host bits must be zero
 * (10.1.0.0/16, not 10.1.2.3/16); the prefix must leave room for a gateway
 * and a container (8 to 30).
 */
export function parseSubnet(text: string): Subnet {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(text);
  if (!m) {
    throw new Error(
      `Invalid subnet ${JSON.stringify(text)}: expected IPv4 CIDR such as 10.124.0.0/24`,
    );
  }
  const addr = ipv4ToInt(m[1]);
  const prefixLen = Number(m[2]);
  if (prefixLen < SUBNET_PREFIX.min || prefixLen > SUBNET_PREFIX.max) {
    throw new Error(
      `Invalid subnet ${text}: the prefix length must be ${SUBNET_PREFIX.min} to ${SUBNET_PREFIX.max}`,
    );
  }
  const base = (addr & mask(prefixLen)) >>> 0;
  if (base !== addr) {
    throw new Error(
      `Invalid subnet ${text}: host bits are set (did you mean ${intToIpv4(base)}/${prefixLen}?)`,
    );
  }
  return { base, prefixLen };
}

/** CIDR text of a subnet. */
export function formatSubnet(s: Subnet): string {
  return `${intToIpv4(s.base)}/${s.prefixLen}`;
}

/** The broadcast (last) address of a subnet. */
export function broadcastOf(s: Subnet): number {
  return (s.base | ~mask(s.prefixLen)) >>> 0;
}

/** Whether an address lies in a subnet. */
export function subnetContains(s: Subnet, ip: number): boolean {
  return ((ip & mask(s.prefixLen)) >>> 0) === s.base;
}

/** Whether two subnets share an address (one contains the other's network address). */
export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  const len = Math.min(a.prefixLen, b.prefixLen);
  return ((a.base & mask(len)) >>> 0) === ((b.base & mask(len)) >>> 0);
}

/** A subnet's `/len` pieces, in order (the pool user-defined networks draw from). */
export function* splitSubnet(pool: Subnet, prefixLen: number): Generator<Subnet> {
  const step = 2 ** (32 - prefixLen);
  for (let base = pool.base; base <= broadcastOf(pool); base += step) yield { base, prefixLen };
}

// ---------------------------------------------------------------------------
// Networks and the choice of an address

/** A bridge network. */
export interface Network {
  readonly name: string;
  /** 64 hex digits. */
  readonly id: string;
  /** The Linux bridge; its name starts with "ctr" (the isolation rules match ctr*). */
  readonly bridge: string;
  /** IPv4 CIDR. */
  readonly subnet: string;
  /** The bridge's address, the containers' default route. */
  readonly gateway: string;
  /** ISO time of creation. */
  readonly created: string;
  /** The default network: always present, never removed, not stored. */
  readonly builtin?: boolean;
  /** Labels given at creation (docker's `--label`; the Engine API's Labels). */
  readonly labels?: Readonly<Record<string, string>>;
  /** The driver's options as given (`-o`; see bridge_options.ts), checked at creation. */
  readonly options?: Readonly<Record<string, string>>;
  /** `--internal`: no route out of the network, and nothing in from outside it. */
  readonly internal?: boolean;
  /** `--attachable` (docker keeps it for swarm networks; recorded and shown). */
  readonly attachable?: boolean;
}

/** Checks a gateway against its subnet; returns it as a number. */
export function checkGateway(subnet: Subnet, gateway: string): number {
  const gw = ipv4ToInt(gateway);
  const where = `subnet ${formatSubnet(subnet)}`;
  if (!subnetContains(subnet, gw)) {
    throw new Error(`Invalid gateway ${gateway}: outside the ${where}`);
  }
  if (gw === subnet.base || gw === broadcastOf(subnet)) {
    throw new Error(`Invalid gateway ${gateway}: the network or broadcast address of the ${where}`);
  }
  return gw;
}

/** Who holds an address, for error messages. */
export interface Holder {
  readonly ip: string;
  readonly containerId: string;
}

/**
 * Chooses a container's address: `requested` when it is a usable, free
 * address of the network, else the lowest free one. Skips the network
 * address, the gateway, the broadcast address and every address in `taken`.
 * Throws an error that names the network and the reason.
 */
export function chooseAddress(
  network: Pick<Network, "name" | "subnet" | "gateway">,
  taken: readonly Holder[],
  requested?: string,
): string {
  const subnet = parseSubnet(network.subnet);
  const gateway = ipv4ToInt(network.gateway);
  const used = new Map(taken.map((h) => [ipv4ToInt(h.ip), h.containerId]));
  const where = `network ${network.name} (${network.subnet})`;
  if (requested !== undefined) {
    const ip = ipv4ToInt(requested);
    const refuse = (why: string) => new Error(`Cannot use --ip ${requested}: ${why}`);
    if (!subnetContains(subnet, ip)) throw refuse(`it is outside the subnet of ${where}`);
    if (ip === subnet.base) throw refuse(`it is the network address of ${where}`);
    if (ip === broadcastOf(subnet)) throw refuse(`it is the broadcast address of ${where}`);
    if (ip === gateway) throw refuse(`it is the gateway of ${where}`);
    const holder = used.get(ip);
    if (holder !== undefined) throw refuse(`it is in use by container ${holder.slice(0, 12)}`);
    return intToIpv4(ip);
  }
  const last = broadcastOf(subnet);
  for (let ip = subnet.base + 1; ip < last; ip++) {
    if (ip !== gateway && !used.has(ip)) return intToIpv4(ip);
  }
  throw new Error(`No free address in ${where}: all ${used.size} are in use`);
}

/**
 * The first host route that overlaps `subnet`, if any: IPv4 routes of the
 * main table but the default route and those through `ownBridge` (the
 * network's own bridge has the subnet's route once it has its address).
 */
export function conflictingRoute(
  subnet: Subnet,
  routes: readonly Route[],
  ownBridge?: string,
): Route | undefined {
  return routes.find((r) =>
    r.family === "inet" && r.dst !== "default" && r.dst !== "0.0.0.0/0" &&
    r.type === "unicast" && (ownBridge === undefined || r.dev !== ownBridge) &&
    subnetsOverlap(subnet, routeSubnet(r.dst))
  );
}

function routeSubnet(dst: string): Subnet {
  const [addr, len] = dst.split("/");
  const prefixLen = len === undefined ? 32 : Number(len);
  return { base: (ipv4ToInt(addr) & mask(prefixLen)) >>> 0, prefixLen };
}

/** A route as `ip route` prints it, for errors. */
export function routeText(r: Route): string {
  return [r.dst, r.gateway && `via ${r.gateway}`, r.dev && `dev ${r.dev}`].filter(Boolean).join(
    " ",
  );
}

// ---------------------------------------------------------------------------
// Leases

/** One address given to one container. */
export interface Lease {
  readonly ip: string;
  readonly containerId: string;
  /** The container's endpoint on this network (its eth<k>, veth and rules); absent: 0. */
  readonly endpoint?: number;
  /** docker's EndpointID: 64 random hex digits, drawn with the lease. */
  readonly endpointId?: string;
  /** The container's first process, in ctr's pid namespace. */
  readonly pid: number;
  /** Its start time (/proc/PID/stat field 22), so a reused pid is never taken for it. */
  readonly startTime: number;
  readonly created: string;
  /** What peers on a user-defined network write in their /etc/hosts. */
  readonly name?: string;
  readonly hostname?: string;
  readonly aliases?: readonly string[];
  /** The container's hosts file (on the host), rewritten when peers come and go. */
  readonly hostsFile?: string;
  /** Its `--add-host` entries, kept for those rewrites. */
  readonly extraHosts?: readonly { ip: string; names: readonly string[] }[];
}

/** Whether a lease's owner is still the process it recorded. */
export function ownerAlive(lease: Pick<Lease, "pid" | "startTime">): boolean {
  return lease.pid > 0 && processStartTime(lease.pid) === lease.startTime;
}

/** What a container asks of a network. */
export interface LeaseRequest {
  readonly containerId: string;
  readonly endpoint?: number;
  readonly pid: number;
  /** A fixed address (`--ip`). */
  readonly ip?: string;
  readonly name?: string;
  readonly hostname?: string;
  readonly aliases?: readonly string[];
  readonly hostsFile?: string;
  readonly extraHosts?: readonly { ip: string; names: readonly string[] }[];
}

interface LeaseFile {
  version: 1;
  network: string;
  subnet: string;
  leases: Lease[];
}

/** The leases of one network, in `<dir>/<name>.json`, changed under `<dir>/<name>.lock`. */
export class Leases {
  constructor(
    /** `<stateDir>/networks`. */
    readonly dir: string,
    readonly network: Pick<Network, "name" | "subnet" | "gateway">,
  ) {}

  /** The JSON file. */
  get path(): string {
    return `${this.dir}/${this.network.name}.json`;
  }

  /** The lock file (separate: the JSON file is replaced by rename, the lock must stay). */
  get lockPath(): string {
    return `${this.dir}/${this.network.name}.lock`;
  }

  /** The leases as they are now (no lock: a snapshot for listing). */
  list(): Lease[] {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    let file: LeaseFile;
    try {
      file = JSON.parse(text);
    } catch (e) {
      throw new Error(`Cannot read the leases in ${this.path}: ${(e as Error).message}`);
    }
    if (!file || !Array.isArray(file.leases)) {
      throw new Error(`Cannot read the leases in ${this.path}: no "leases" list`);
    }
    return file.leases.filter((l) =>
      typeof l?.ip === "string" && typeof l.containerId === "string"
    );
  }

  /** Runs `fn` on the leases under the exclusive lock and writes back what it leaves in the list. */
  async update<T>(fn: (leases: Lease[]) => T): Promise<T> {
    Deno.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const lock = await FileLock.acquire(this.lockPath, "exclusive");
    try {
      // A temporary file of this list under the lock is a writer's killed before its rename.
      sweepTemp(this.dir, `${this.network.name}.json.`);
      const leases = this.list();
      const before = JSON.stringify(leases);
      const result = fn(leases);
      if (JSON.stringify(leases) !== before) this.#write(leases);
      return result;
    } finally {
      lock.release();
    }
  }

  #write(leases: Lease[]): void {
    const file: LeaseFile = {
      version: 1,
      network: this.network.name,
      subnet: this.network.subnet,
      leases,
    };
    writeAtomic(this.path, JSON.stringify(file, null, 2) + "\n");
  }

  /**
   * Gives a container an address: drops stale leases first (returned as
   * `reclaimed`, so their other objects can be cleaned too), then takes the
   * requested address or the lowest free one.
   */
  async allocate(req: LeaseRequest): Promise<{ lease: Lease; reclaimed: Lease[] }> {
    const startTime = processStartTime(req.pid);
    if (startTime === undefined) {
      throw new Error(
        `Cannot give container ${
          req.containerId.slice(0, 12)
        } an address: process ${req.pid} is gone`,
      );
    }
    return await this.update((leases) => {
      const reclaimed = removeWhere(leases, (l) => !ownerAlive(l));
      if (leases.some((l) => l.containerId === req.containerId)) {
        throw new Error(
          `Container ${
            req.containerId.slice(0, 12)
          } already has an address in network ${this.network.name}`,
        );
      }
      const ip = chooseAddress(this.network, leases, req.ip);
      const lease: Lease = {
        ip,
        containerId: req.containerId,
        ...(req.endpoint ? { endpoint: req.endpoint } : {}),
        endpointId: randomHex(32),
        pid: req.pid,
        startTime,
        created: new Date().toISOString(),
        ...(req.name === undefined ? {} : { name: req.name }),
        ...(req.hostname === undefined ? {} : { hostname: req.hostname }),
        ...(req.aliases?.length ? { aliases: [...req.aliases] } : {}),
        ...(req.hostsFile === undefined ? {} : { hostsFile: req.hostsFile }),
        ...(req.extraHosts?.length ? { extraHosts: req.extraHosts } : {}),
      };
      leases.push(lease);
      return { lease, reclaimed };
    });
  }

  /** Releases the address of a container; returns its lease when it had one. */
  async release(containerId: string): Promise<Lease | undefined> {
    return (await this.update((leases) =>
      removeWhere(leases, (l) => l.containerId === containerId)
    ))[0];
  }

  /** Drops the leases whose owner is gone; returns them. */
  async reclaim(): Promise<Lease[]> {
    return await this.update((leases) => removeWhere(leases, (l) => !ownerAlive(l)));
  }
}

/** Removes the matching items from `list` in place; returns them. */
function removeWhere<T>(list: T[], match: (item: T) => boolean): T[] {
  const removed = list.filter(match);
  const kept = list.filter((x) => !match(x));
  list.splice(0, list.length, ...kept);
  return removed;
}
