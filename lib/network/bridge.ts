/**
 * Attaching a container to a bridge network, from outside, while its first
 * process waits (the container's pid is known, its network namespace is
 * /proc/PID/ns/net):
 *
 * 1. a lease: the container's address (ipam.ts), stale leases reclaimed;
 * 2. the bridge, made when missing, with the gateway address, up;
 * 3. a veth pair: `veth<8 hex of the id>` on the host, a port of the bridge,
 *    up; its peer born inside the container's namespace as `eth0` (no
 *    temporary name on the host), with a MAC derived from the address
 *    (02:42:a:b:c:d, as docker: the same address always has the same MAC,
 *    so no neighbour cache is ever stale), the address, up, `lo` up, the
 *    default route through the gateway;
 * 4. the published ports' proxies (proxy.ts) and packet filter rules (nat.ts);
 * 5. hosts, resolv.conf and hostname in the container's directory (resolv.ts),
 *    and on a user-defined network the hosts files of its peers.
 *
 * A container joins further networks as endpoints 1, 2, ... (names.ts): the
 * same steps with `eth<k>`, `veth<8 hex>-<k>` and rules tagged `ctr:<id>-<k>`,
 * no default route unless it has none yet, no published ports, and its
 * hosts file rewritten to name its peers on every network it is on.
 *
 * `teardown()` undoes all of it but the bridge, which lives as long as its
 * network. Everything is undone as well when a step fails.
 * @module
 */

import { type Lease, type Network, parseSubnet } from "./ipam.ts";
import { NetlinkError, Rtnl } from "./link.ts";
import { Nat } from "./nat.ts";
import { vethName } from "./names.ts";
import { trace } from "../trace.ts";
import { sleep } from "../os/async.ts";

export { vethName };
import type { NetworkStore } from "./networks.ts";
import { parseBridgeOptions } from "./bridge_options.ts";
import type { PortMapping } from "./ports.ts";
import { loadDgram, type PortProxy, startProxies, stopProxies } from "./proxy.ts";
import {
  type HostEntry,
  hostsContent,
  networkFilePaths,
  type NetworkFiles,
  type ResolvOptions,
  writeInPlace,
  writeNetworkFiles,
} from "./resolv.ts";

const EEXIST = 17;
const ENODEV = 19;

/** What attachContainer takes. */
export interface AttachOptions extends ResolvOptions {
  readonly store: NetworkStore;
  /** The packet filter rules; default `new Nat({ stateDir: store.stateDir })`. */
  readonly nat?: Nat;
  /** The network's name; default "bridge". */
  readonly network?: string;
  /** 64 hex digits (at least 8). */
  readonly containerId: string;
  /**
   * Which of the container's networks this is (names.ts): 0, its first (the
   * default), writes its resolv.conf and hostname and publishes its ports;
   * a further one only rewrites its hosts file.
   */
  readonly endpoint?: number;
  /**
   * Route everything else through this network's gateway (default: on
   * endpoint 0); never on an internal network, which leads nowhere.
   */
  readonly defaultRoute?: boolean;
  /** The container's first process; its network namespace is the container's. */
  readonly pid: number;
  /** A fixed address (`--ip`). */
  readonly ip?: string;
  /** A fixed MAC address of eth0 (`--mac-address`); default: derived from the address. */
  readonly mac?: string;
  /** The container's name, hostname and aliases (hosts files). */
  readonly name?: string;
  readonly hostname?: string;
  readonly aliases?: readonly string[];
  /** `--add-host` entries; the address `host-gateway` stands for the network's gateway (docker's). */
  readonly extraHosts?: readonly HostEntry[];
  /** The container's NIS domain name (its hosts line names `hostname.domainname` first). */
  readonly domainname?: string;
  /** Published ports (`-p`). */
  readonly ports?: readonly PortMapping[];
  /** Masquerade outbound traffic; default true. */
  readonly masquerade?: boolean;
  /** Run a userspace proxy per published port in this process; default true. */
  readonly proxy?: boolean;
  /** Where to write hosts, resolv.conf and hostname (the container's directory). */
  readonly filesDir?: string;
  /** MTU of the veth pair. */
  readonly mtu?: number;
}

/** A container on a network. */
export interface Attachment {
  readonly network: Network;
  readonly containerId: string;
  readonly endpoint: number;
  /** Its interface in the container (`eth<k>`, or the network's container_iface_prefix). */
  readonly ifname: string;
  readonly ip: string;
  readonly prefixLen: number;
  readonly gateway: string;
  readonly mac: string;
  /** The host end of the veth pair. */
  readonly vethHost: string;
  /** docker's EndpointID of the container on the network (its lease's). */
  readonly endpointId?: string;
  /** The published ports, host ports chosen. */
  readonly ports: readonly PortMapping[];
  readonly proxies: readonly PortProxy[];
  /** What could not be done (no nf_tables or iptables). */
  readonly warnings: readonly string[];
  /** The files written, when filesDir was given. */
  readonly files?: NetworkFiles;
  /**
   * Once the container's processes are gone: stops the proxies, removes the
   * rules and the lease, and sees the veth pair go (not the bridge).
   * Idempotent.
   */
  teardown(): Promise<void>;
}

/** The MAC of an IPv4 address, as docker derives it: 02:42 and the address's four bytes. */
export function macFor(ip: string): string {
  const bytes = ip.split(".").map(Number);
  return ["02", "42", ...bytes.map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

function checkId(id: string): void {
  if (!/^[0-9a-f]{8,64}$/.test(id)) {
    throw new Error(`Invalid container id ${JSON.stringify(id)}: 8 to 64 lowercase hex digits`);
  }
}

/** Refuses a process in ctr's own network namespace (`--net=host`): its eth0 and routes are the host's. */
function checkOwnNetns(pid: number): void {
  let theirs: string;
  try {
    theirs = Deno.readLinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return; // a gone process is reported by the lease, with the container's id
  }
  if (theirs === Deno.readLinkSync("/proc/thread-self/ns/net")) {
    throw new Error(
      `Cannot attach process ${pid} to a network: it is in ctr's own network namespace`,
    );
  }
}

function ignoring<T>(errno: number, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === errno) return undefined;
    throw e;
  }
}

/**
 * Makes sure a network's bridge exists with its gateway address and is up.
 * A missing bridge is created only when the subnet overlaps no host route.
 */
export function ensureBridge(store: NetworkStore, network: Network): void {
  const prefixLen = parseSubnet(network.subnet).prefixLen;
  const cidr = `${network.gateway}/${prefixLen}`;
  using net = Rtnl.open();
  let link = net.findLink(network.bridge);
  if (link && link.kind !== "bridge") {
    throw new Error(
      `Cannot use bridge ${network.bridge} of network ${network.name}: it is a ${
        link.kind ?? "device"
      }`,
    );
  }
  if (!link) {
    store.checkHostRoutes(network.name, network.subnet, network.bridge);
    // Another ctr may make it at the same moment: EEXIST is success.
    ignoring(EEXIST, () => net.createBridge(network.bridge));
    link = net.getLink(network.bridge);
    // A bridge takes the lowest MAC of its ports unless it has its own: give it one, fixed.
    net.setMac(network.bridge, macFor(network.gateway));
  }
  if (!net.listAddresses(network.bridge).some((a) => a.cidr === cidr)) {
    ignoring(EEXIST, () => net.addAddress(network.bridge, cidr));
  }
  if (!link.up) net.setUp(network.bridge);
}

/** A free port on the host (for `-p CTRPORT` without a proxy to choose one). */
async function freePort(p: PortMapping): Promise<number> {
  const hostname = p.hostIp ?? "0.0.0.0";
  if (p.protocol === "tcp") {
    const l = Deno.listen({ hostname, port: 0 });
    const port = l.addr.port;
    l.close();
    return port;
  }
  const s = (await loadDgram()).createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.bind({ address: hostname, port: 0 }, () => resolve());
  });
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Names a peer has in the hosts files of its network. */
function peerEntry(l: Lease): HostEntry {
  return {
    ip: l.ip,
    names: [l.name, l.hostname, ...(l.aliases ?? [])].filter((n): n is string => !!n),
  };
}

/** One network's leases, as read for hosts files. */
interface NetworkLeases {
  readonly network: Network;
  readonly leases: readonly Lease[];
}

/**
 * Every network's leases, one read each (`changed`'s as it is in the
 * caller's locked update): a container's hosts file names its peers on all
 * the networks it is on.
 */
function leaseView(store: NetworkStore, changed?: NetworkLeases): NetworkLeases[] {
  return store.list().map((network) =>
    network.name === changed?.network.name
      ? changed
      : { network, leases: store.leases(network).list() }
  );
}

/**
 * A container's hosts file: its own line from its first endpoint's lease,
 * then its peers on every user-defined network it is on (a peer met on two
 * networks is named once, by the first one's address).
 */
function hostsFor(view: readonly NetworkLeases[], containerId: string): string | undefined {
  const on = view.filter((v) => v.leases.some((l) => l.containerId === containerId));
  const own = on.map((v) => v.leases.find((l) => l.containerId === containerId)!)
    .sort((a, b) => (a.endpoint ?? 0) - (b.endpoint ?? 0))[0];
  if (!own) return undefined;
  const seen = new Set([containerId]);
  const peers: HostEntry[] = [];
  for (const v of on) {
    if (v.network.builtin) continue; // docker's default bridge gives no names
    for (const p of v.leases) {
      if (seen.has(p.containerId)) continue;
      seen.add(p.containerId);
      peers.push(peerEntry(p));
    }
  }
  return hostsContent({
    ip: own.ip,
    hostname: own.hostname,
    name: own.name,
    aliases: own.aliases,
    extra: own.extraHosts,
    peers,
  });
}

/** Rewrites a container's hosts file in place (its bind mount sees it); a gone one is skipped. */
function writeHosts(view: readonly NetworkLeases[], containerId: string, file?: string): void {
  if (!file) return;
  try {
    Deno.statSync(file);
  } catch {
    return; // its directory is gone
  }
  const text = hostsFor(view, containerId);
  if (text !== undefined) writeInPlace(file, text);
}

/**
 * Rewrites the hosts file of every live container of a user-defined network
 * that recorded one, from all the networks each is on. `leases` is the
 * network's list as the caller's locked update has it.
 */
export function refreshPeerHosts(
  store: NetworkStore,
  network: Network,
  leases: readonly Lease[],
): void {
  if (network.builtin) return;
  const view = leaseView(store, { network, leases });
  for (const l of leases) writeHosts(view, l.containerId, l.hostsFile);
}

/**
 * Gives a container's leases a new name (`ctr rename`) on every network it
 * is on and rewrites their hosts files, its own included, so peers reach it
 * by the new name.
 */
export async function renameOnNetwork(
  o: { store: NetworkStore; containerId: string; name: string },
): Promise<void> {
  for (const network of o.store.list()) {
    await o.store.leases(network).update((list) => {
      const i = list.findIndex((l) => l.containerId === o.containerId);
      if (i < 0) return;
      list[i] = { ...list[i], name: o.name };
      refreshPeerHosts(o.store, network, list);
    });
  }
}

/** Connects a container (by its first process's pid) to a network; see the module doc. */
export async function attachContainer(o: AttachOptions): Promise<Attachment> {
  checkId(o.containerId);
  checkOwnNetns(o.pid);
  const store = o.store;
  const nat = o.nat ?? new Nat({ stateDir: store.stateDir });
  const network = store.get(o.network ?? "bridge");
  const options = parseBridgeOptions(network.options);
  const leases = store.leases(network);
  const files = o.filesDir === undefined ? undefined : networkFilePaths(o.filesDir);
  const extraHosts = o.extraHosts?.map((h) =>
    h.ip === "host-gateway" ? { ...h, ip: network.gateway } : h
  );
  const endpoint = o.endpoint ?? 0;
  const { lease, reclaimed } = await leases.allocate({
    containerId: o.containerId,
    endpoint,
    pid: o.pid,
    ip: o.ip,
    name: o.name,
    hostname: o.hostname,
    aliases: o.aliases,
    hostsFile: files?.hosts,
    extraHosts,
  });
  trace("network: lease");
  const undo: (() => Promise<unknown> | unknown)[] = [() => leases.release(o.containerId)];
  const rollback = async () => {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch { /* the first error is the one to report */ }
    }
  };
  try {
    // The veths of reclaimed leases went with their namespaces; their rules did not.
    for (const old of reclaimed) await nat.remove(old.containerId, old.endpoint ?? 0);
    ensureBridge(store, network);

    const ip = lease.ip;
    const prefixLen = parseSubnet(network.subnet).prefixLen;
    const mac = o.mac ?? macFor(ip);
    const veth = vethName(o.containerId, endpoint);
    const ifname = `${options.ifacePrefix}${endpoint}`;
    {
      using host = Rtnl.open();
      host.createVeth(veth, ifname, { peerNetns: { pid: o.pid }, mtu: o.mtu ?? options.mtu });
      undo.push(() => deleteVeth(veth));
      trace("network: veth");
      host.setMaster(veth, network.bridge);
      host.setUp(veth);
    }
    {
      using inside = Rtnl.open({ netns: { pid: o.pid } });
      inside.setMac(ifname, mac);
      inside.addAddress(ifname, `${ip}/${prefixLen}`);
      inside.setUp("lo");
      inside.setUp(ifname);
      // An internal network leads nowhere: its containers reach only their subnet (docker's).
      if ((o.defaultRoute ?? endpoint === 0) && !network.internal) {
        inside.addRoute({ dst: "default", gateway: network.gateway });
      }
    }

    // Nothing is published from an internal network, as with docker; ports that name no
    // host address are published on the network's host_binding_ipv4, if it has one.
    let ports = network.internal || endpoint > 0
      ? []
      : (o.ports ?? []).map((p) =>
        p.hostIp === undefined && options.hostBinding !== undefined
          ? { ...p, hostIp: options.hostBinding }
          : p
      );
    let proxies: PortProxy[] = [];
    if (ports.length > 0 && (o.proxy ?? true)) {
      proxies = await startProxies(ports, ip);
      undo.push(() => stopProxies(proxies));
      ports = proxies.map((p) => p.port);
    } else {
      for (let i = 0; i < ports.length; i++) {
        if (ports[i].hostPort === 0) ports[i] = { ...ports[i], hostPort: await freePort(ports[i]) };
      }
    }

    // Every container gets its isolation rule, even with forwarding off now:
    // whoever switches it on later (ctr for the next container, or the admin)
    // must not open a path between networks.
    const masquerade = (o.masquerade ?? true) && options.masquerade && !network.internal;
    undo.push(() => nat.remove(o.containerId, endpoint));
    const loopback = !(o.proxy ?? true) && ports.length > 0;
    if (loopback) {
      // Packets from 127.0.0.1 may leave through the bridge only with route_localnet on it.
      Deno.writeTextFileSync(`/proc/sys/net/ipv4/conf/${network.bridge}/route_localnet`, "1");
    }
    const warnings = await nat.add({
      containerId: o.containerId,
      endpoint,
      bridge: network.bridge,
      ip,
      masquerade,
      ports,
      loopback,
      internal: network.internal === true,
    });
    trace("network: rules");

    if (o.filesDir !== undefined && endpoint === 0) {
      const peers = network.builtin
        ? []
        : leases.list().filter((l) => l.containerId !== o.containerId).map(peerEntry);
      writeNetworkFiles(o.filesDir, {
        ...o,
        ip,
        hostname: o.hostname ?? o.containerId.slice(0, 12),
        extra: extraHosts,
        peers,
      });
    }
    await leases.update((list) => {
      refreshPeerHosts(store, network, list);
      // On a builtin network (no names) a further endpoint still has its file rewritten.
      if (network.builtin && endpoint > 0) {
        writeHosts(leaseView(store, { network, leases: list }), o.containerId, files?.hosts);
      }
    });
    trace("network: attached");

    let done: Promise<void> | undefined;
    return {
      network,
      containerId: o.containerId,
      endpoint,
      ifname,
      ip,
      prefixLen,
      gateway: network.gateway,
      mac,
      vethHost: veth,
      endpointId: lease.endpointId,
      ports,
      proxies,
      warnings,
      files,
      teardown() {
        done ??= (async () => {
          const errors: unknown[] = [];
          try {
            await stopProxies(proxies);
          } catch (e) {
            errors.push(e);
          }
          try {
            await detachContainer({
              store,
              nat,
              network: network.name,
              containerId: o.containerId,
              endpoint,
            });
          } catch (e) {
            errors.push(e);
          }
          if (errors.length > 0) throw errors[0];
        })();
        return done;
      },
    };
  } catch (e) {
    await rollback();
    throw e;
  }
}

function deleteVeth(name: string): void {
  using host = Rtnl.open();
  ignoring(ENODEV, () => host.deleteLink(name));
}

/** How long an ended container's veth may take to go with its network namespace. */
const SETTLE_MS = 100;

/**
 * Waits for the veth of a container whose processes are gone to go with its
 * network namespace, and deletes it only when it outlives SETTLE_MS (the
 * namespace is held elsewhere: a pin, a `--net=container:` sharer). The
 * kernel removes a dying namespace's devices in the background within a few
 * milliseconds, while deleting one waits for RCU grace periods (15-30 ms).
 */
async function settleVeth(name: string): Promise<void> {
  using host = Rtnl.open();
  const deadline = performance.now() + SETTLE_MS;
  while (host.findLink(name)) {
    if (performance.now() > deadline) {
      ignoring(ENODEV, () => host.deleteLink(name));
      return;
    }
    await sleep(1);
  }
}

/** What detachContainer takes. */
export interface DetachOptions {
  readonly store: NetworkStore;
  readonly nat?: Nat;
  readonly network?: string;
  readonly containerId: string;
  /** Which of its networks (default 0). */
  readonly endpoint?: number;
  /** The host end of its veth pair, as recorded (default: vethName(containerId, endpoint)). */
  readonly veth?: string;
  /**
   * The container runs on (`network disconnect`): its veth is deleted at
   * once, and its own hosts file loses the network's peers. Otherwise its
   * processes are gone, and its veth is given time to go with its network
   * namespace (settleVeth).
   */
  readonly live?: boolean;
}

/**
 * Undoes an attachment from any process (`ctr rm` after a crash): deletes
 * the host veth (and so its peer) when it is still there, removes the
 * endpoint's rules and releases its lease, then updates its peers' hosts
 * files, and its own when it runs on (`live`). Every step is
 * tried, each tolerates what is already gone; the first error is thrown at
 * the end.
 */
export async function detachContainer(o: DetachOptions): Promise<void> {
  checkId(o.containerId);
  const nat = o.nat ?? new Nat({ stateDir: o.store.stateDir });
  // A network removed since (its leases went with it) still leaves a veth and rules to remove.
  const network = o.store.find(o.network ?? "bridge");
  const errors: unknown[] = [];
  const attempt = async (fn: () => unknown) => {
    try {
      await fn();
    } catch (e) {
      errors.push(e);
    }
  };
  const endpoint = o.endpoint ?? 0;
  const veth = o.veth ?? vethName(o.containerId, endpoint);
  // A running container's veth is deleted; an ended one's goes with its namespace meanwhile.
  if (o.live) await attempt(() => deleteVeth(veth));
  await attempt(() => nat.remove(o.containerId, endpoint));
  trace("network: rules removed");
  if (!o.live) await attempt(() => settleVeth(veth));
  trace("network: veth gone");
  if (network) {
    const leases = o.store.leases(network);
    await attempt(async () => {
      await leases.update((list) => {
        const gone = list.find((l) => l.containerId === o.containerId);
        list.splice(0, list.length, ...list.filter((l) => l !== gone));
        refreshPeerHosts(o.store, network, list);
        if (o.live) {
          writeHosts(leaseView(o.store, { network, leases: list }), o.containerId, gone?.hostsFile);
        }
      });
    });
  }
  if (errors.length > 0) throw errors[0];
}

/**
 * Cleans up after containers that died without a teardown (`ctr run` was
 * killed): in every network, drops the leases whose owner is gone and
 * removes their rules (their veths went with their namespaces). The next
 * attach to a network does this for that network; this does it for all
 * (for `ctr network prune` or start-up). Returns the reclaimed leases.
 */
export async function reclaimStale(o: { store: NetworkStore; nat?: Nat }): Promise<Lease[]> {
  const nat = o.nat ?? new Nat({ stateDir: o.store.stateDir });
  const out: Lease[] = [];
  for (const network of o.store.list()) {
    const leases = o.store.leases(network);
    const gone = await leases.reclaim();
    for (const l of gone) {
      await nat.remove(l.containerId, l.endpoint ?? 0);
      deleteVeth(vethName(l.containerId, l.endpoint ?? 0));
    }
    if (gone.length > 0) await leases.update((list) => refreshPeerHosts(o.store, network, list));
    out.push(...gone);
  }
  return out;
}

/**
 * docker's network prune: reclaims stale leases (reclaimStale), then removes
 * every user-defined network that no live container uses and `select`
 * accepts (default: all). Returns the reclaimed leases and the removed names.
 */
export async function pruneNetworks(o: {
  store: NetworkStore;
  nat?: Nat;
  select?: (network: Network) => boolean;
}): Promise<{ released: Lease[]; deleted: Network[] }> {
  const released = await reclaimStale(o);
  const deleted: Network[] = [];
  for (const n of o.store.list()) {
    if (n.builtin || !(o.select?.(n) ?? true)) continue;
    if (o.store.inspect(n.name).containers.length > 0) continue;
    await o.store.remove(n.name);
    deleted.push(n);
  }
  return { released, deleted };
}
