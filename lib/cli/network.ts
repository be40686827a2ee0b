/**
 * `ctr network create|ls|inspect|rm|prune`: user-defined bridge networks,
 * listed and inspected in docker's shapes (`--format`, `--filter`), with the
 * events docker records.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { Nat, type Network, NetworkStore, pruneNetworks } from "../network/mod.ts";
import { networkEvent } from "../engine/events.ts";
import { formatList, goTimeString, NETWORK_LIST } from "../format/mod.ts";
import { sha256 } from "../image/digest.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { Filters } from "./filters.ts";
import { filterOption, INSPECT_FORMAT, LIST_FORMAT, printInspected, printLines } from "./output.ts";
import { compareStrings } from "../os/order.ts";

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
];
const LS_FILTERS = ["driver", "id", "label", "name", "scope", "type", "dangling"];

/** The options of `ctr network ls`. */
export const NETWORK_LS_OPTIONS: readonly OptionSpec[] = [
  filterOption(LS_FILTERS),
  LIST_FORMAT,
  { name: "no-trunc", type: "bool", help: "Do not truncate the output" },
  { name: "quiet", short: "q", type: "bool", help: "Only display network IDs" },
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

/** Docker's `network inspect` object of a network by name or id, or undefined. */
export function networkInspectObject(g: Globals, ref: string): Record<string, unknown> | undefined {
  const store = new NetworkStore({ root: g.root, stateDir: g.stateDir });
  const n = findListed(store, ref);
  if (!n) return undefined;
  const containers: Record<string, unknown> = {};
  if (n.network) {
    const prefix = n.network.subnet.split("/")[1];
    for (const l of store.inspect(n.name).containers) {
      containers[l.containerId] = {
        Name: l.name ?? "",
        EndpointID: sha256(`${n.id}/${l.containerId}`).slice(7),
        MacAddress: "",
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
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    Options: n.network ? { "com.docker.network.bridge.name": n.network.bridge } : {},
    Labels: {},
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

function ls(store: NetworkStore, argv: readonly string[]): string {
  const { opts, positionals } = parseArgs(argv, NETWORK_LS_OPTIONS);
  if (positionals.length) throw new UsageError(`"ctr network ls" accepts no arguments`);
  const f = Filters.parse(opts.filter as string[] | undefined, LS_FILTERS);
  const dangling = f.bool("dangling");
  const nets = listed(store).filter((n) =>
    f.match("driver", (v) => n.driver === v) &&
    f.match("id", (v) => n.id.startsWith(v)) &&
    f.match("name", (v) => n.name.includes(v)) &&
    f.match("scope", (v) => v === "local") &&
    f.match("type", (v) => (v === "builtin") === n.builtin) &&
    // Networks carry no labels in ctr: a label filter matches none.
    !f.has("label") &&
    (dangling === undefined ||
      dangling === (!n.builtin && n.network !== undefined &&
          store.inspect(n.name).containers.length === 0))
  ).sort((a, b) => compareStrings(a.name, b.name));
  const trunc = opts["no-trunc"] !== true;
  if (opts.quiet) return nets.map((n) => (trunc ? n.id.slice(0, 12) : n.id) + "\n").join("");
  return formatList(opts.format as string | undefined, nets.map((n) => lsItem(n, trunc)), {
    kind: NETWORK_LIST,
  });
}

/** Runs one network command. */
export async function networkCommand(argv: readonly string[], g: Globals): Promise<number> {
  const [sub, ...rest] = argv;
  const store = new NetworkStore({ root: g.root, stateDir: g.stateDir });
  switch (sub) {
    case "create": {
      const { opts, positionals } = parseArgs(rest, NETWORK_CREATE_OPTIONS);
      if (positionals.length !== 1) {
        throw new UsageError(`"ctr network create" requires exactly one NAME`);
      }
      if (g.rootless) {
        throw new UsageError(
          "ctr networks are bridges, which need root: rootless containers use " +
            "--net=slirp4netns or --net=pasta",
        );
      }
      if (opts.driver !== undefined && opts.driver !== "bridge") {
        throw new UsageError(
          `unsupported network driver ${JSON.stringify(opts.driver)}: only bridge`,
        );
      }
      const n = await store.create({
        name: positionals[0],
        subnet: opts.subnet as string | undefined,
        gateway: opts.gateway as string | undefined,
      });
      networkEvent(g.stateDir, n, "create");
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
        const n = store.find(name);
        await store.remove(name);
        networkEvent(g.stateDir, n, "destroy");
        console.log(name);
      }
      return 0;
    }
    case "prune": {
      const r = await pruneNetworks({ store, nat: new Nat({ stateDir: g.stateDir }) });
      for (const l of r.released) console.log(`released ${l.ip} of ${l.containerId.slice(0, 12)}`);
      for (const n of r.deleted) {
        networkEvent(g.stateDir, n, "destroy");
        console.log(`Deleted network: ${n.name}`);
      }
      return 0;
    }
  }
  throw new UsageError(
    `unknown network command: ${
      JSON.stringify(sub ?? "")
    } (expected create, ls, inspect, rm or prune)`,
  );
}
