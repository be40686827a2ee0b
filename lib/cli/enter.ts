/**
 * `ctr enter PID [--ns LIST] [COMMAND...]`: run a command in the namespaces of
 * any process, like `nsenter -t PID`. By default every namespace of the
 * target that differs from ctr's own is joined; `--ns net,uts` picks some,
 * `--ns net=/run/netns/x` joins a pinned one.
 * @module
 */

import type { NsType } from "../config/container.ts";
import { assertProcess, enterPlan, nsType, processNamespaces } from "../runtime/namespaces.ts";
import { PlanError } from "../runtime/plan.ts";
import { close } from "../../ffi/sys.ts";
import { signalPidfd, spawn, waitPid, waitPidfd } from "../runtime/spawn.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { RunError } from "../engine/container.ts";
import { SIGNALS } from "../../ffi/constants.ts";
import { sys } from "../../ffi/sys.ts";

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
    const mine = new Map(processNamespaces("self").map((n) => [n.type, n.inode]));
    for (const n of processNamespaces(pid!)) {
      if (n.inode !== mine.get(n.type)) join.set(n.type, n.path);
    }
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
  const { plan, fds, child } = enterPlan({
    join: req.join,
    rootOf: req.pid,
    args: req.args,
    env: req.env,
  });
  let spawned;
  try {
    spawned = await spawn(plan);
  } catch (e) {
    if (e instanceof PlanError) {
      if (e.step.call === "execve") {
        const code = e.errno === 2 ? 127 : 126;
        throw new RunError(
          `exec: ${JSON.stringify(req.args[0])}: ${
            code === 127 ? "executable file not found in $PATH" : e.message
          }`,
          code,
        );
      }
      throw new RunError(`Cannot enter process ${req.pid ?? ""}: ${e.message}`, 125);
    }
    throw e;
  } finally {
    for (const fd of fds) close(fd);
  }
  // The first child only joined and forked; the command runs in its child.
  await waitPid(spawned.pid);
  close(spawned.pidfd);
  const pid = Number(spawned.slots.get(child.name));
  const pidfd = sys("pidfd_open", `pid ${pid}`, pid, 0);
  const forward = (sig: Deno.Signal) => () => {
    try {
      signalPidfd(pidfd, SIGNALS[sig]);
    } catch { /* gone */ }
  };
  const listeners: [Deno.Signal, () => void][] =
    (["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as Deno.Signal[]).map((s) => [s, forward(s)]);
  for (const [s, f] of listeners) Deno.addSignalListener(s, f);
  try {
    return (await waitPidfd(pidfd)).code;
  } finally {
    for (const [s, f] of listeners) Deno.removeSignalListener(s, f);
    close(pidfd);
  }
}
