/**
 * `ctr network create|ls|inspect|rm|prune`: user-defined bridge networks.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { Nat, NetworkStore, pruneNetworks } from "../network/mod.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";

const CREATE: readonly OptionSpec[] = [
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

/** Runs one network command. */
export async function networkCommand(argv: readonly string[], g: Globals): Promise<number> {
  const [sub, ...rest] = argv;
  const store = new NetworkStore({ root: g.root, stateDir: g.stateDir });
  switch (sub) {
    case "create": {
      const { opts, positionals } = parseArgs(rest, CREATE);
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
      console.log(n.id);
      return 0;
    }
    case "ls":
    case "list": {
      const { opts } = parseArgs(rest, [{
        name: "quiet",
        short: "q",
        type: "bool",
        help: "Only names",
      }]);
      const nets = store.list();
      if (opts.quiet) {
        for (const n of nets) console.log(n.name);
        return 0;
      }
      const rows = [
        ["NETWORK ID", "NAME", "DRIVER", "SUBNET", "BRIDGE"],
        ...nets.map((n) => [n.id.slice(0, 12), n.name, "bridge", n.subnet, n.bridge]),
      ];
      const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
      console.log(
        rows.map((r) => r.map((v, c) => v.padEnd(w[c])).join("   ").trimEnd()).join("\n"),
      );
      return 0;
    }
    case "inspect": {
      const { positionals } = parseArgs(rest, []);
      if (!positionals.length) throw new UsageError(`"ctr network inspect" requires a NAME`);
      console.log(JSON.stringify(positionals.map((name) => store.inspect(name)), null, 2));
      return 0;
    }
    case "rm":
    case "remove": {
      const { positionals } = parseArgs(rest, []);
      if (!positionals.length) throw new UsageError(`"ctr network rm" requires a NAME`);
      for (const name of positionals) {
        await store.remove(name);
        console.log(name);
      }
      return 0;
    }
    case "prune": {
      const r = await pruneNetworks({ store, nat: new Nat({ stateDir: g.stateDir }) });
      for (const l of r.released) console.log(`released ${l.ip} of ${l.containerId.slice(0, 12)}`);
      for (const name of r.deleted) console.log(`Deleted network: ${name}`);
      return 0;
    }
  }
  throw new UsageError(
    `unknown network command: ${
      JSON.stringify(sub ?? "")
    } (expected create, ls, inspect, rm or prune)`,
  );
}
