/**
 * `ctr enter PID [--ns LIST] [COMMAND...]`: run a command in the namespaces of
 * any process, like `nsenter -t PID`. By default every namespace of the
 * target that differs from ctr's own is joined; `--ns net,uts` picks some,
 * `--ns net=/run/netns/x` joins a pinned one.
 * @module
 */

import type { NsType } from "../config/container.ts";
import { launchJoined } from "../runtime/launch.ts";
import { assertProcess, differingNamespaces, nsType } from "../runtime/namespaces.ts";
import { waitForwarding } from "../runtime/spawn.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";

/** The options of `ctr enter`. */
export const ENTER_OPTIONS: readonly OptionSpec[] = [
  {
    name: "ns",
    type: "list",
    arg: "LIST",
    help:
      "Namespaces to join: comma list of user,mnt,pid,uts,ipc,net,cgroup, or TYPE=PATH (default: all that differ)",
  },
  { name: "env", short: "e", type: "list", arg: "K=V", help: "Set an environment variable" },
  { name: "help", type: "bool", help: "Print usage" },
];

/** What enterRequest produces. */
export interface EnterRequest {
  readonly pid?: number;
  readonly join: Map<NsType, string>;
  readonly args: string[];
  readonly env: string[];
}

/** Parses `ctr enter` arguments (pure except for reading /proc). */
export function enterRequest(argv: readonly string[]): EnterRequest {
  // Options may come before and after the PID: `enter --ns net PID` and `enter PID --ns net`.
  const first = parseArgs(argv, ENTER_OPTIONS, { stopAfterPositionals: 1 });
  let pidArg: string | undefined;
  let args = first.positionals;
  const opts = { ...first.opts };
  if (args.length > 0 && /^\d+$/.test(args[0])) {
    pidArg = args[0];
    const rest = parseArgs(args.slice(1), ENTER_OPTIONS, { stopAfterPositionals: 1 });
    for (const [k, v] of Object.entries(rest.opts)) {
      opts[k] = Array.isArray(v) ? [...((opts[k] as string[] | undefined) ?? []), ...v] : v;
    }
    args = rest.positionals;
  }
  const nsOpts = (opts.ns as string[] | undefined) ?? [];
  const explicit = new Map<NsType, string | null>();
  for (const item of nsOpts.flatMap((x) => x.split(","))) {
    if (!item) continue;
    const eq = item.indexOf("=");
    const type = nsType(eq < 0 ? item : item.slice(0, eq));
    explicit.set(type, eq < 0 ? null : item.slice(eq + 1));
  }
  const needsPid = explicit.size === 0 || [...explicit.values()].some((v) => v === null);
  const pid = pidArg === undefined ? undefined : Number(pidArg);
  if (pid === undefined && needsPid) {
    throw new UsageError(
      args.length ? `invalid pid ${JSON.stringify(args[0])}` : `"ctr enter" requires a PID`,
    );
  }
  if (pid !== undefined) assertProcess(pid);
  const join = new Map<NsType, string>();
  if (explicit.size === 0) {
    for (const [t, p] of differingNamespaces(pid!)) join.set(t, p);
  } else {
    for (const [type, path] of explicit) join.set(type, path ?? `/proc/${pid}/ns/${type}`);
  }
  const env = Object.entries(Deno.env.toObject()).map(([k, v]) => `${k}=${v}`);
  for (const e of (opts.env as string[] | undefined) ?? []) env.push(e);
  return { pid, join, args: args.length ? args : ["/bin/sh"], env };
}

/** Runs `ctr enter`; returns the command's exit code. */
export async function enterCommand(argv: readonly string[]): Promise<number> {
  const req = enterRequest(argv);
  const { pidfd } = await launchJoined({
    join: req.join,
    rootOf: req.pid,
    args: req.args,
    env: req.env,
    what: `Cannot enter process ${req.pid ?? ""}`.trimEnd(),
  });
  return await waitForwarding(pidfd);
}
