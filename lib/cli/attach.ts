/**
 * `ctr attach` (docker's): this terminal's stdio to a running detached
 * container's, through its watcher; and the attached starts that share it:
 * `ctr start -a [-i]` and a foreground `ctr run -t` (both start the
 * container detached, its watcher waiting for this client, then attach).
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import {
  type AttachEnd,
  type AttachStreams,
  connectWatcher,
  relayAttached,
} from "../engine/attach.ts";
import { isRunning, signalContainer, waitRecorded } from "../engine/lifecycle.ts";
import { StateDir } from "../engine/state.ts";
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from "../config/rules.ts";
import { RunError } from "../runtime/errors.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";

/** The options of `ctr attach`. */
export const ATTACH_OPTIONS: readonly OptionSpec[] = [
  {
    name: "detach-keys",
    type: "string",
    arg: "KEYS",
    help: "Override the key sequence for detaching a container (default ctrl-p,ctrl-q)",
  },
  { name: "no-stdin", type: "bool", help: "Do not attach STDIN" },
  {
    name: "sig-proxy",
    type: "bool",
    help: "Proxy all received signals to the process (default true)",
  },
  { name: "help", type: "bool", help: "Print usage" },
];

const USAGE = `Usage: ctr attach [OPTIONS] CONTAINER

Attach local standard input, output, and error streams to a running container.

Options:
${optionsHelp(ATTACH_OPTIONS)}`;

/** How to attach, beyond the container. */
export interface AttachRequest {
  readonly streams: AttachStreams;
  readonly detachKeys: string;
  readonly sigProxy: boolean;
}

function detachKeyBytes(keys: string): Uint8Array {
  try {
    return parseDetachKeys(keys);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Attaches to the container `id` (its watcher listens); returns how it ended. */
async function attachId(dir: StateDir, id: string, r: AttachRequest): Promise<AttachEnd> {
  const s = dir.get(id);
  if (!s) throw new RunError(`No such container: ${id}`, 1);
  let conn;
  try {
    conn = await connectWatcher(dir.attachSocket(id));
  } catch (e) {
    if (!isRunning(s)) {
      throw new RunError("You cannot attach to a stopped container, start it first", 1);
    }
    throw new RunError(
      `Cannot attach to container ${s.name}: it has no watcher to attach to ` +
        `(a container run in the foreground without -t): ${(e as Error).message}`,
      1,
    );
  }
  return await relayAttached(conn, {
    ...r.streams,
    tty: s.config?.process.terminal ?? false,
    detachKeys: detachKeyBytes(r.detachKeys),
    signal: r.sigProxy
      ? (sig) => {
        try {
          const now = dir.get(id);
          if (now) signalContainer(now, sig);
        } catch { /* it ended */ }
      }
      : undefined,
  });
}

/**
 * The exit code an attachment ends with: the container's (once its watcher
 * has released it, or removed it with --rm), 0 after a detach.
 */
async function endCode(dir: StateDir, id: string, end: AttachEnd): Promise<number> {
  if (end.kind === "detached") return 0;
  const last = await waitRecorded(dir, id).catch(() => undefined);
  if (end.kind === "exited") return end.exitCode;
  return last?.exitCode ?? 125;
}

/**
 * Starts a container with `args` (a `run` or `__start` command line) in a
 * process that becomes its watcher, waiting for this client; attaches; and
 * returns its exit code as `docker run`/`docker start -a` do.
 */
export async function startAttached(
  args: readonly string[],
  g: Globals,
  r: AttachRequest,
): Promise<number> {
  const { runInBackground } = await import("../engine/detach.ts");
  const { id, code } = await runInBackground(args, g, { attach: true });
  if (!id) return code;
  const dir = new StateDir(g.stateDir);
  const end = await attachId(dir, id, r);
  return await endCode(dir, id, end);
}

/** `ctr attach [--no-stdin] [--detach-keys K] [--sig-proxy=false] CONTAINER`. */
export async function attachCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, ATTACH_OPTIONS);
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`"ctr attach" requires exactly 1 container`);
  const dir = new StateDir(g.stateDir);
  const s = dir.find(positionals[0]);
  if (!isRunning(s)) {
    throw new RunError("You cannot attach to a stopped container, start it first", 1);
  }
  if (s.status === "paused") {
    throw new RunError("You cannot attach to a paused container, unpause it first", 1);
  }
  const keys = (opts["detach-keys"] as string | undefined) ?? DEFAULT_DETACH_KEYS;
  detachKeyBytes(keys);
  const end = await attachId(dir, s.id, {
    streams: {
      stdin: !opts["no-stdin"] && (s.config?.process.stdin ?? false),
      stdout: true,
      stderr: true,
    },
    detachKeys: keys,
    sigProxy: opts["sig-proxy"] !== false,
  });
  return await endCode(dir, s.id, end);
}
