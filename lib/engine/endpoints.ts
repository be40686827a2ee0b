/**
 * `network connect` and `network disconnect`: a container's networks beyond
 * the one it was created with.
 *
 * A container that does not run has its configuration changed: the networks
 * it joins at its next start (the first as eth0, the others as eth1, ...).
 * A running one joins or leaves at once, from outside, through the same
 * joinNetwork() as a start: the endpoint is recorded in its state before its
 * veth, lease and rules are made (so `rm -f` finds them however early ctr
 * dies) and after they are gone; the configuration changes too, so a
 * restart keeps its networks, as docker's does.
 * @module
 */

import type { ContainerConfig, EndpointSpec, NetworkSpec } from "../config/container.ts";
import type { Globals } from "./globals.ts";
import { type ContainerState, type EndpointRecord, StateDir } from "./state.ts";
import { containerNetworks, endpointsOf, isRunning } from "./lifecycle.ts";
import { addressOf, endpointRecord, joinNetwork, withAddress } from "./container.ts";
import { networkEvent } from "./events.ts";
import { freeEndpoint } from "../network/names.ts";
import { detachContainer, type Network, NetworkStore } from "../network/mod.ts";
import { Rtnl } from "../network/link.ts";
import { trace } from "../trace.ts";

/** What `network connect` gives the container on the network. */
export interface EndpointOptions {
  readonly aliases?: readonly string[];
  readonly ip?: string;
}

function storeOf(g: Globals): NetworkStore {
  return new NetworkStore({ root: g.root, stateDir: g.stateDir });
}

/** The configuration with one more network: the first one, or a further one. */
function withNetwork(n: NetworkSpec, e: EndpointSpec): NetworkSpec {
  return n.name === undefined
    ? { ...n, name: e.name, aliases: e.aliases, ip: e.ip }
    : { ...n, more: [...(n.more ?? []), e] };
}

/**
 * The configuration without a network. Without its first, the next one
 * becomes the first (eth0, its published ports) at the next start; its
 * published ports stay recorded either way.
 */
function withoutNetwork(n: NetworkSpec, name: string): NetworkSpec {
  const more = n.more ?? [];
  if (n.name !== name) {
    const rest = more.filter((e) => e.name !== name);
    return { ...n, more: rest.length ? rest : undefined };
  }
  const [next, ...rest] = more;
  return next
    ? {
      ...n,
      name: next.name,
      aliases: next.aliases,
      ip: next.ip,
      more: rest.length ? rest : undefined,
    }
    : { ...n, name: undefined, aliases: [], ip: undefined, more: undefined };
}

function withConfig(
  s: ContainerState,
  change: (n: NetworkSpec) => NetworkSpec,
): Partial<ContainerState> {
  return s.config ? { config: { ...s.config, network: change(s.config.network) } } : {};
}

/** The state with an endpoint recorded (the first network's in its own fields). */
function withEndpoint(s: ContainerState, e: EndpointRecord): ContainerState {
  if (e.index === 0) {
    return { ...s, network: e.network, veth: e.veth, ruleComment: e.ruleComment };
  }
  return { ...s, endpoints: [...(s.endpoints ?? []).filter((x) => x.index !== e.index), e] };
}

/** The state without an endpoint: its names and its address. */
function withoutEndpoint(s: ContainerState, index: number): ContainerState {
  if (index === 0) {
    return {
      ...s,
      network: undefined,
      veth: undefined,
      ruleComment: undefined,
      ip: undefined,
      prefixLen: undefined,
      gateway: undefined,
      mac: undefined,
      ports: undefined,
      networkId: undefined,
      endpointId: undefined,
    };
  }
  const rest = (s.endpoints ?? []).filter((x) => x.index !== index);
  return { ...s, endpoints: rest.length ? rest : undefined };
}

/**
 * After a running container left the network it routed out through, the
 * first of its other networks that leads out takes the default route, as
 * docker moves a container's default gateway.
 */
function keepRouteOut(
  s: ContainerState,
  left: readonly EndpointRecord[],
  store: NetworkStore,
): void {
  using inside = Rtnl.open({ netns: { pid: s.pid } });
  if (inside.listRoutes({ family: "inet" }).some((r) => r.dst === "default")) return;
  for (const e of left) {
    const gateway = e.index === 0 ? s.gateway : e.gateway;
    const n = store.find(e.network);
    if (gateway === undefined || !n || n.internal) continue;
    inside.addRoute({ dst: "default", gateway });
    return;
  }
}

/** Refuses a container that has no network namespace of its own on ctr's networks. */
function checkJoinable(s: ContainerState, cfg: ContainerConfig, net: Network): void {
  if (cfg.namespaces.net.kind !== "new" || cfg.network.userMode !== undefined) {
    throw new Error(
      `Cannot connect container ${s.name} to network ${net.name}: it does not have a ` +
        "network namespace of its own on a ctr network",
    );
  }
}

/**
 * `network connect`: records the network in the container's configuration,
 * and joins it at once when the container runs. Throws when it is on the
 * network already or has no network namespace of its own.
 */
export async function connectContainer(
  g: Globals,
  ref: string,
  network: string,
  o: EndpointOptions = {},
): Promise<void> {
  if (network === "host" || network === "none") {
    // docker's words: these are namespaces to share, not networks to join.
    throw new Error(
      "container cannot be disconnected from host network or connected to host network",
    );
  }
  const store = storeOf(g);
  const net = store.get(network);
  const dir = new StateDir(g.stateDir);
  const s = dir.find(ref);
  const cfg = s.config;
  if (!cfg) throw new Error(`Container ${s.name} has no recorded configuration`);
  if (containerNetworks(s).includes(net.name)) {
    throw new Error(`endpoint with name ${s.name} already exists in network ${net.name}`);
  }
  checkJoinable(s, cfg, net);
  const spec: EndpointSpec = { name: net.name, aliases: [...(o.aliases ?? [])], ip: o.ip };
  if (!isRunning(s)) {
    await dir.update(s.id, (cur) => ({
      ...cur,
      ...withConfig(cur, (n) => withNetwork(n, spec)),
    }));
    return;
  }
  const live = endpointsOf(s);
  const index = freeEndpoint(live.map((e) => e.index));
  const record = endpointRecord(s.id, net.name, index, spec.aliases);
  // Recorded before its objects are made; the configuration too, so the next start joins it.
  await dir.update(s.id, (cur) => ({
    ...withEndpoint(cur, record),
    ...withConfig(cur, (n) => withNetwork(n, spec)),
  }));
  trace("connect: recorded");
  try {
    // A further network leads out when none of the others does (they are all internal).
    const outbound = live.some((e) => store.find(e.network)?.internal !== true);
    const a = await joinNetwork({ ...cfg, stateDir: g.stateDir }, s.pid, {
      endpoint: index,
      network: net.name,
      aliases: spec.aliases,
      ip: spec.ip,
      proxy: false,
      defaultRoute: index === 0 ? undefined : !outbound,
    });
    await dir.update(
      s.id,
      (cur) =>
        index === 0
          ? { ...cur, ...addressOf(a), ports: a.ports }
          : withEndpoint(cur, withAddress(record, a)),
    );
  } catch (e) {
    // joinNetwork undid what it made; the record goes with it.
    await dir.update(s.id, (cur) => ({
      ...withoutEndpoint(cur, index),
      ...withConfig(cur, (n) => withoutNetwork(n, net.name)),
    }));
    // joinNetwork's words name the network already; these name the container too.
    const why = (e as Error).message.replace(
      /^Cannot connect the container to network [^:]*: /,
      "",
    );
    throw new Error(`Cannot connect container ${s.name} to network ${net.name}: ${why}`);
  }
}

/**
 * `network disconnect`: removes the network from the container's
 * configuration, and when it runs, leaves it at once (its veth, rules and
 * lease go, its peers' hosts files and its own are rewritten). Throws when
 * it is not on the network.
 */
export async function disconnectContainer(g: Globals, ref: string, network: string): Promise<void> {
  const store = storeOf(g);
  // A network removed since is found by its name in the container's record.
  const net = store.find(network);
  const name = net?.name ?? network;
  const dir = new StateDir(g.stateDir);
  const s = dir.find(ref);
  if (!containerNetworks(s).includes(name)) {
    if (!net) store.get(network); // throws docker's "network ... not found"
    throw new Error(`container ${s.name} is not connected to network ${name}`);
  }
  const e = isRunning(s) ? endpointsOf(s).find((x) => x.network === name) : undefined;
  if (e) {
    await detachContainer({
      store,
      network: name,
      containerId: s.id,
      endpoint: e.index,
      veth: e.veth,
      live: true,
    });
    if (net) networkEvent(g.stateDir, net, "disconnect", s.id);
    const left = endpointsOf(s).filter((x) => x.index !== e.index);
    keepRouteOut(s, left, store);
  }
  await dir.update(s.id, (cur) => ({
    ...(e ? withoutEndpoint(cur, e.index) : cur),
    ...withConfig(cur, (n) => withoutNetwork(n, name)),
  }));
}
