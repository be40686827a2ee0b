/**
 * `ctr network create|ls|inspect|rm|prune`: user-defined bridge networks,
 * listed and inspected in docker's shapes (`--format`, `--filter`), with the
 * events docker records.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { type Lease, Nat, type Network, NetworkStore, pruneNetworks } from "../network/mod.ts";
import { networkEvent } from "../engine/events.ts";
import { formatList, goTimeString, NETWORK_LIST } from "../format/mod.ts";
import { sha256 } from "../image/digest.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { Filters, labelsMatch } from "./filters.ts";
import { filterOption, INSPECT_FORMAT, LIST_FORMAT, printInspected, printLines } from "./output.ts";
import { compareStrings } from "../os/order.ts";
import { keyValueOptions, parseLabels } from "../config/rules.ts";
import { type ContainerState, StateDir } from "../engine/state.ts";

/** The options of `ctr network create`. */
export const NETWORK_CREATE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "subnet",
    type: "string",
    arg: "CIDR",
    help: "IPv4 subnet (default: the first free /24 of 10.124.0.0/16)",
  },
  {
    name: "gateway",
    type: "string",
    arg: "ADDR",
    help: "The bridge's address (default: the subnet's first)",
  },
  { name: "driver", short: "d", type: "string", arg: "bridge", help: "Only bridge" },
  { name: "label", type: "list", arg: "K=V", help: "Set metadata on a network" },
  {
    name: "opt",
    short: "o",
    type: "list",
    arg: "K=V",
    help: "Set driver specific options (docker's bridge keys: bridge.name, driver.mtu, " +
      "bridge.enable_ip_masquerade, bridge.host_binding_ipv4, container_iface_prefix)",
  },
  { name: "internal", type: "bool", help: "Restrict external access to the network" },
  { name: "attachable", type: "bool", help: "Enable manual container attachment" },
  { name: "ipv6", type: "bool", help: "Enable IPv6 networking", refused: "ctr networks are IPv4" },
  {
    name: "ip-range",
    type: "list",
    arg: "CIDR",
    help: "Allocate container ip from a sub-range",
    refused: "addresses are drawn from the whole subnet",
  },
  {
    name: "aux-address",
    type: "list",
    arg: "K=IP",
    help: "Auxiliary IPv4 or IPv6 addresses used by Network driver",
    refused: "ctr reserves no addresses but the gateway",
  },
  {
    name: "ipam-driver",
    type: "string",
    arg: "NAME",
    help: "IP Address Management Driver",
    refused: "ctr has its own address management only",
  },
  {
    name: "ipam-opt",
    type: "list",
    arg: "K=V",
    help: "Set IPAM driver specific options",
    refused: "ctr's address management takes no options",
  },
  {
    name: "scope",
    type: "string",
    arg: "SCOPE",
    help: "Control the network's scope",
    refused: "ctr networks are local",
  },
  {
    name: "config-from",
    type: "string",
    arg: "NAME",
    help: "The network from which to copy the configuration",
    refused: "ctr has no configuration-only networks",
  },
  {
    name: "config-only",
    type: "bool",
    help: "Create a configuration only network",
    refused: "ctr has no configuration-only networks",
  },
  { name: "ingress", type: "bool", help: "Create swarm routing-mesh network", refused: "no swarm" },
];
/** The keys of `network ls --filter` (docker's). */
export const NETWORK_FILTERS = ["driver", "id", "label", "name", "scope", "type", "dangling"];

/** The options of `ctr network ls`. */
export const NETWORK_LS_OPTIONS: readonly OptionSpec[] = [
  filterOption(NETWORK_FILTERS),
  LIST_FORMAT,
  { name: "no-trunc", type: "bool", help: "Do not truncate the output" },
  { name: "quiet", short: "q", type: "bool", help: "Only display network IDs" },
];
/** The options of `ctr network connect`. */
export const NETWORK_CONNECT_OPTIONS: readonly OptionSpec[] = [
  { name: "alias", type: "list", arg: "NAME", help: "Add network-scoped alias for the container" },
  {
    name: "driver-opt",
    type: "list",
    arg: "K=V",
    help: "driver options for the network",
    refused: "ctr's bridge endpoints take no driver options",
  },
  { name: "ip", type: "string", arg: "ADDR", help: "IPv4 address (e.g., 172.30.100.104)" },
  {
    name: "ip6",
    type: "string",
    arg: "ADDR",
    help: "IPv6 address",
    refused: "ctr networks are IPv4",
  },
  {
    name: "link",
    type: "list",
    arg: "CONTAINER",
    help: "Add link to another container",
    refused: "links are given when the container is created (run --link)",
  },
  {
    name: "link-local-ip",
    type: "list",
    arg: "ADDR",
    help: "Add a link-local address for the container",
    refused: "ctr endpoints have their network's address only",
  },
];
/** The options of `ctr network disconnect`. */
export const NETWORK_DISCONNECT_OPTIONS: readonly OptionSpec[] = [
  {
    name: "force",
    short: "f",
    type: "bool",
    help: "Force the container to disconnect from a network",
  },
];
/** The options of `ctr network inspect`. */
export const NETWORK_INSPECT_OPTIONS: readonly OptionSpec[] = [
  INSPECT_FORMAT,
];

/** A network as docker lists it: ctr's bridges, and docker's built-in host and none. */
interface Listed {
  readonly id: string;
  readonly name: string;
  readonly driver: string;
  readonly created: string;
  readonly builtin: boolean;
  readonly network?: Network;
}

/** host and none are --net values, not records; docker lists them, so ctr does too. */
function pseudo(name: "host" | "none"): Listed {
  return {
    id: sha256(`ctr network ${name}`).slice(7),
    name,
    driver: name === "host" ? "host" : "null",
    created: "1970-01-01T00:00:00Z",
    builtin: true,
  };
}

function listed(store: NetworkStore): Listed[] {
  const nets: Listed[] = store.list().map((n) => ({
    id: n.id,
    name: n.name,
    driver: "bridge",
    created: n.created,
    builtin: n.builtin === true,
    network: n,
  }));
  return [...nets, pseudo("host"), pseudo("none")];
}

/** Finds a network by name, full id or id prefix. */
function findListed(store: NetworkStore, ref: string): Listed | undefined {
  const all = listed(store);
  return all.find((n) => n.name === ref) ?? all.find((n) => n.id === ref) ??
    (ref.length >= 3 ? all.find((n) => n.id.startsWith(ref)) : undefined);
}

/** The network store of a ctr root and state directory. */
export function networkStore(g: Globals): NetworkStore {
  return new NetworkStore({ root: g.root, stateDir: g.stateDir });
}

/**
 * The name of the network `ref` (a name, a full id or an id prefix) names,
 * host and none included; undefined when none does.
 */
export function networkName(g: Globals, ref: string): string | undefined {
  return findListed(networkStore(g), ref)?.name;
}

/** The MAC a container's state records for its endpoint k. */
function endpointMac(s: ContainerState | undefined, k: number): string {
  return (k === 0 ? s?.mac : s?.endpoints?.find((e) => e.index === k)?.mac) ?? "";
}

/** Docker's `network inspect` object of a network by name or id, or undefined. */
export function networkInspectObject(g: Globals, ref: string): Record<string, unknown> | undefined {
  const store = networkStore(g);
  const n = findListed(store, ref);
  if (!n) return undefined;
  const containers: Record<string, unknown> = {};
  if (n.network) {
    const prefix = n.network.subnet.split("/")[1];
    const states = new StateDir(g.stateDir);
    for (const l of store.inspect(n.name).containers) {
      containers[l.containerId] = {
        Name: l.name ?? "",
        // Drawn with the lease; a lease of an older ctr has none, and gets one made of the ids.
        EndpointID: l.endpointId ?? sha256(`${n.id}/${l.containerId}`).slice(7),
        // The lease has no MAC; the container's state records the one it got.
        MacAddress: endpointMac(states.get(l.containerId), l.endpoint ?? 0),
        IPv4Address: `${l.ip}/${prefix}`,
        IPv6Address: "",
      };
    }
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: "local",
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: {
      Driver: "default",
      Options: null,
      Config: n.network ? [{ Subnet: n.network.subnet, Gateway: n.network.gateway }] : [],
    },
    Internal: n.network?.internal === true,
    Attachable: n.network?.attachable === true,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    // As docker: the default network shows its bridge; others the options they were made with.
    Options: n.network?.builtin
      ? { "com.docker.network.bridge.name": n.network.bridge }
      : { ...n.network?.options },
    Labels: { ...n.network?.labels },
  };
}

/** One `network ls` item (docker's fields, all strings). */
function lsItem(n: Listed, trunc: boolean): Record<string, string> {
  return {
    CreatedAt: goTimeString(new Date(n.created)),
    Driver: n.driver,
    ID: trunc ? n.id.slice(0, 12) : n.id,
    IPv6: "false",
    Internal: "false",
    Labels: "",
    Name: n.name,
    Scope: "local",
  };
}

/**
 * The networks `network ls` lists with these filters (docker's keys and
 * matching), by name: each as docker's `network inspect` object.
 */
export function filterNetworks(g: Globals, f: Filters): Record<string, unknown>[] {
  return selectNetworks(networkStore(g), f).map((n) => networkInspectObject(g, n.id)!);
}

function selectNetworks(store: NetworkStore, f: Filters): Listed[] {
  const dangling = f.bool("dangling");
  return listed(store).filter((n) =>
    f.match("driver", (v) => n.driver === v) &&
    f.match("id", (v) => n.id.startsWith(v)) &&
    f.match("name", (v) => n.name.includes(v)) &&
    f.match("scope", (v) => v === "local") &&
    f.match("type", (v) => (v === "builtin") === n.builtin) &&
    labelsMatch(f, n.network?.labels ?? {}) &&
    (dangling === undefined ||
      dangling === (!n.builtin && n.network !== undefined &&
          store.inspect(n.name).containers.length === 0))
  ).sort((a, b) => compareStrings(a.name, b.name));
}

function ls(store: NetworkStore, argv: readonly string[]): string {
  const { opts, positionals } = parseArgs(argv, NETWORK_LS_OPTIONS);
  if (positionals.length) throw new UsageError(`"ctr network ls" accepts no arguments`);
  const f = Filters.parse(opts.filter as string[] | undefined, NETWORK_FILTERS);
  const nets = selectNetworks(store, f);
  const trunc = opts["no-trunc"] !== true;
  if (opts.quiet) return nets.map((n) => (trunc ? n.id.slice(0, 12) : n.id) + "\n").join("");
  return formatList(opts.format as string | undefined, nets.map((n) => lsItem(n, trunc)), {
    kind: NETWORK_LIST,
  });
}

/** What `network create` takes, from the command line or the Engine API. */
export interface NewNetwork {
  readonly name: string;
  readonly driver?: string;
  readonly subnet?: string;
  readonly gateway?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** The driver's options (docker's keys). */
  readonly options?: Readonly<Record<string, string>>;
  readonly internal?: boolean;
  readonly attachable?: boolean;
}

/** `network create`: checks the driver, records the network and its event. */
export async function createNetwork(g: Globals, o: NewNetwork): Promise<Network> {
  if (g.rootless) {
    throw new UsageError(
      "ctr networks are bridges, which need root: rootless containers use " +
        "--net=slirp4netns or --net=pasta",
    );
  }
  if (o.driver !== undefined && o.driver !== "bridge") {
    throw new UsageError(`unsupported network driver ${JSON.stringify(o.driver)}: only bridge`);
  }
  const n = await networkStore(g).create({
    name: o.name,
    subnet: o.subnet,
    gateway: o.gateway,
    labels: o.labels,
    options: o.options,
    internal: o.internal,
    attachable: o.attachable,
  });
  networkEvent(g.stateDir, n, "create");
  return n;
}

/** `network rm` of one network by name: its bridge goes, and the event is recorded. */
export async function removeNetwork(g: Globals, name: string): Promise<void> {
  const store = networkStore(g);
  const n = store.find(name);
  await store.remove(name);
  networkEvent(g.stateDir, n, "destroy");
}

/** `network prune`: every user-defined network no live container uses; the events recorded. */
export async function pruneAllNetworks(
  g: Globals,
  select?: (n: Network) => boolean,
): Promise<{ released: Lease[]; deleted: Network[] }> {
  const store = networkStore(g);
  const r = await pruneNetworks({ store, nat: new Nat({ stateDir: g.stateDir }), select });
  for (const n of r.deleted) networkEvent(g.stateDir, n, "destroy");
  return r;
}

/** `ctr network --help`. */
export const NETWORK_USAGE = () =>
  `Usage:
  ctr network create [--subnet CIDR] [--internal] [-o K=V]... NAME   Create a bridge network
  ctr network connect [--alias A]... [--ip ADDR] NETWORK CONTAINER  Join a network (at once if it runs)
  ctr network disconnect NETWORK CONTAINER                          Leave a network
  ctr network ls [-q] [--format F] [-f K=V]                         List networks
  ctr network inspect [-f TEMPLATE] NAME...                         Show networks as JSON
  ctr network rm NAME...                                            Remove networks
  ctr network prune                                                 Remove unused networks

Join one with 'ctr run --network NAME'. -o takes docker's bridge options
(com.docker.network.driver.mtu=1400, com.docker.network.bridge.name=ctr-x, ...).

Options of create:
${optionsHelp(NETWORK_CREATE_OPTIONS)}`;

/** Runs one network command. */
export async function networkCommand(argv: readonly string[], g: Globals): Promise<number> {
  if (argv.includes("--help")) {
    console.log(NETWORK_USAGE());
    return 0;
  }
  const [sub, ...rest] = argv;
  const store = networkStore(g);
  switch (sub) {
    case "create": {
      const { opts, positionals } = parseArgs(rest, NETWORK_CREATE_OPTIONS);
      if (positionals.length !== 1) {
        throw new UsageError(`"ctr network create" requires exactly one NAME`);
      }
      const n = await createNetwork(g, {
        name: positionals[0],
        driver: opts.driver as string | undefined,
        subnet: opts.subnet as string | undefined,
        gateway: opts.gateway as string | undefined,
        labels: parseLabels(opts.label as string[] | undefined),
        options: keyValueOptions(opts.opt as string[] | undefined),
        internal: opts.internal === true,
        attachable: opts.attachable === true,
      });
      console.log(n.id);
      return 0;
    }
    case "ls":
    case "list": {
      printLines(ls(store, rest));
      return 0;
    }
    case "inspect": {
      const { opts, positionals } = parseArgs(rest, NETWORK_INSPECT_OPTIONS);
      if (!positionals.length) throw new UsageError(`"ctr network inspect" requires a NAME`);
      const found: unknown[] = [];
      let code = 0;
      for (const name of positionals) {
        const n = networkInspectObject(g, name);
        if (n) found.push(n);
        else {
          console.error(`ctr: network ${name} not found`);
          code = 1;
        }
      }
      return printInspected(found, opts.format as string | undefined) || code;
    }
    case "rm":
    case "remove": {
      const { positionals } = parseArgs(rest, []);
      if (!positionals.length) throw new UsageError(`"ctr network rm" requires a NAME`);
      for (const name of positionals) {
        await removeNetwork(g, name);
        console.log(name);
      }
      return 0;
    }
    case "connect":
    case "disconnect": {
      const connect = sub === "connect";
      const { opts, positionals } = parseArgs(
        rest,
        connect ? NETWORK_CONNECT_OPTIONS : NETWORK_DISCONNECT_OPTIONS,
      );
      if (positionals.length !== 2) {
        throw new UsageError(
          `"ctr network ${sub}" requires exactly 2 arguments: NETWORK CONTAINER`,
        );
      }
      const [network, container] = positionals;
      // Loaded only here: joining a running container's network needs the launch code.
      const ep = await import("../engine/endpoints.ts");
      if (connect) {
        await ep.connectContainer(g, container, network, {
          aliases: opts.alias as string[] | undefined,
          ip: opts.ip as string | undefined,
        });
      } else {
        await ep.disconnectContainer(g, container, network);
      }
      return 0;
    }
    case "prune": {
      const r = await pruneAllNetworks(g);
      for (const l of r.released) console.log(`released ${l.ip} of ${l.containerId.slice(0, 12)}`);
      for (const n of r.deleted) console.log(`Deleted network: ${n.name}`);
      return 0;
    }
  }
  throw new UsageError(
    `unknown network command: ${
      JSON.stringify(sub ?? "")
    } (expected connect, create, disconnect, ls, inspect, rm or prune)`,
  );
}
