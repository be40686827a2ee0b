/**
 * `ctr exec NAME COMMAND`: a new process in a running container, with the
 * container's environment, user, capabilities and no_new_privs unless the
 * flags say otherwise (see lib/runtime/exec.ts for how it joins).
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { capSet } from "../runtime/capabilities.ts";
import { lastCap } from "../runtime/host.ts";
import { RunError } from "../runtime/errors.ts";
import { cgroupOf, isRunning } from "../engine/lifecycle.ts";
import { type ContainerState, StateDir } from "../engine/state.ts";
import type { ExecRun } from "../runtime/exec.ts";
import { resolveUser } from "../runtime/user.ts";
import { mergeEnv } from "../config/container.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { containerEvent } from "../engine/events.ts";
import { randomId } from "../config/names.ts";

/** The options of `ctr exec`. */
export const EXEC_OPTIONS: readonly OptionSpec[] = [
  { name: "detach", short: "d", type: "bool", help: "Run the command in the background" },
  { name: "interactive", short: "i", type: "bool", help: "Keep stdin open" },
  { name: "tty", short: "t", type: "bool", help: "Allocate a pseudo-TTY" },
  { name: "user", short: "u", type: "string", arg: "USER[:GROUP]", help: "Run as this user" },
  { name: "workdir", short: "w", type: "string", arg: "DIR", help: "Working directory" },
  { name: "env", short: "e", type: "list", arg: "K=V", help: "Set an environment variable" },
  { name: "privileged", type: "bool", help: "Give the command every capability" },
  { name: "help", type: "bool", help: "Print usage" },
];

export async function execCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, EXEC_OPTIONS, { stopAfterPositionals: 2 });
  if (opts.help) {
    console.log("Usage: ctr exec [OPTIONS] CONTAINER COMMAND [ARG...]");
    return 0;
  }
  const [ref, ...args] = positionals;
  if (!ref || args.length === 0) {
    throw new UsageError(`"ctr exec" requires a container and a command`);
  }
  const dir = new StateDir(g.stateDir);
  const s = dir.find(ref);
  const exec = await startExec(s, args, {
    user: opts.user as string | undefined,
    env: (opts.env as string[] | undefined) ?? [],
    workdir: opts.workdir as string | undefined,
    privileged: opts.privileged === true,
    tty: opts.tty === true,
    interactive: opts.interactive === true,
    detach: opts.detach === true,
    dieWithParent: opts.detach !== true,
  }, g);
  const run = exec.run;
  const code = await run.wait();
  if (!opts.detach) exec.ended(code);
  return code;
}

/** What an exec asks for beyond its command (`ctr exec`'s flags, the API's exec config). */
export interface ExecRequest {
  readonly user?: string;
  readonly env: readonly string[];
  readonly workdir?: string;
  readonly privileged: boolean;
  readonly tty: boolean;
  readonly interactive: boolean;
  readonly detach: boolean;
  readonly dieWithParent: boolean;
  /** Host fds for its stdout and stderr (the API's pipes); else this process's terminal. */
  readonly stdio?: { readonly stdin?: number; readonly stdout: number; readonly stderr: number };
  /** Where its pty master goes (the API relays it). */
  readonly sendConsole?: (master: number) => void;
}

/**
 * Starts `args` in a running container as `ctr exec` does, for the command
 * line and the Engine API alike: its user, environment, directory,
 * capabilities and confinement, docker's exec events. `ended` records the
 * exit (exec_die).
 */
export async function startExec(
  s: ContainerState,
  args: readonly string[],
  o: ExecRequest,
  g: Globals,
): Promise<{ run: ExecRun; ended: (code: number) => void }> {
  if (!isRunning(s)) throw new RunError(`Container ${s.id.slice(0, 12)} is not running`, 125);
  if (s.status === "paused") {
    throw new RunError(
      `Container ${s.id.slice(0, 12)} is paused, unpause the container before exec`,
      125,
    );
  }
  const cfg = s.config;
  if (!cfg) throw new RunError(`Container ${s.name} has no recorded configuration`, 125);
  const pid = s.pid;

  const root = `/proc/${pid}/root`;
  const user = o.user !== undefined
    ? resolveUser(o.user, [root], [])
    : { uid: cfg.process.uid, gid: cfg.process.gid, groups: cfg.process.groups };
  const env = [...cfg.process.env];
  for (const e of o.env) {
    if (e.indexOf("=") <= 0) {
      throw new UsageError(`invalid environment variable ${JSON.stringify(e)}`);
    }
    env.push(e);
  }

  const cwd = o.workdir ?? cfg.process.cwd;
  const caps = o.privileged ? capSet(["ALL"], [], [], lastCap()) : cfg.process.caps;
  // docker's exec events: the command in the action, the exec's own id in the attributes.
  const execID = randomId();
  const what = `${args[0]} ${args.slice(1).join(" ")}`;
  containerEvent(g.stateDir, s, `exec_create: ${what}`, { execID });
  // The launch machinery is loaded only when a command really runs (not for --help).
  const { execProcess } = await import("../runtime/exec.ts");
  containerEvent(g.stateDir, s, `exec_start: ${what}`, { execID });
  const run = await execProcess({
    pid,
    cgroup: cgroupOf(s),
    args,
    env: mergeEnv(env),
    cwd,
    uid: user.uid,
    gid: user.gid,
    groups: user.groups,
    caps,
    noNewPrivileges: cfg.process.noNewPrivileges,
    // The container's confinement goes with everything started in it (--privileged: none).
    seccomp: o.privileged ? undefined : cfg.process.seccomp,
    apparmorProfile: cfg.process.apparmorProfile,
    tty: o.tty,
    dieWithParent: o.dieWithParent,
    interactive: o.interactive,
    detach: o.detach,
    stdio: o.stdio,
    sendConsole: o.sendConsole,
    what: `container ${s.name}`,
  });
  return {
    run,
    ended: (code) => containerEvent(g.stateDir, s, "exec_die", { execID, exitCode: String(code) }),
  };
}
