/**
 * The OCI hooks: programs the runtime runs at points of a container's life
 * with its state on stdin. Loaded only by commands whose config has hooks.
 * @module
 */

import { SIGNALS } from "../../ffi/constants.ts";
import { close, pipe, readAsync, writeAll } from "../../ffi/sys.ts";
import { concat } from "../../ffi/bytes.ts";
import { int, type Plan, type Step } from "../runtime/plan.ts";
import { launchJoined } from "../runtime/launch.ts";
import { differingNamespaces } from "../runtime/namespaces.ts";
import { signalPidfd, spawn, waitPidfd } from "../runtime/spawn.ts";
import { closeOtherFds, dupTo, execPath, unblockSignals } from "../runtime/steps.ts";
import { settleWithin } from "../os/async.ts";
import { OciError } from "./state.ts";

/** One hook of the config. */
export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/**
 * Where a hook of the container's own runs: in the namespaces of its process
 * `pid`; with `root`, also in its root (startContainer: after pivot_root),
 * else in the mount namespace's own root (createContainer: before
 * pivot_root, where the runtime's paths still resolve).
 */
export interface HookPlace {
  readonly pid: number;
  readonly root: boolean;
}

/**
 * Runs one hook with the state on stdin; a failure throws. A hook's argv is
 * exactly its `args` (argv[0] included: dockerd's hook is its own binary
 * under another argv[0]), so it is started with a plan of its own rather
 * than through Deno.Command, which sets argv[0] to the path.
 */
export async function runHook(
  kind: string,
  h: Hook,
  state: string,
  inside?: HookPlace,
): Promise<void> {
  const [inR, inW] = pipe();
  const [outR, outW] = pipe();
  const live = new Set([inR, inW, outR, outW]);
  // An fd number is closed once: closing it twice could close another's new fd.
  const shut = (fd: number) => {
    if (live.delete(fd)) close(fd);
  };
  const stdio: Step[] = [
    dupTo(int(inR), 0, "the state on stdin"),
    dupTo(int(outW), 1, "stdout to ctr"),
    dupTo(int(outW), 2, "stderr to ctr"),
  ];
  const argv = h.args?.length ? h.args : [h.path];
  let pidfd = -1;
  try {
    if (inside) {
      pidfd = (await launchJoined({
        join: differingNamespaces(inside.pid),
        rootOf: inside.root ? inside.pid : undefined,
        args: argv,
        env: h.env ?? [],
        beforeExec: stdio,
        path: h.path,
        what: `${kind} hook ${h.path}`,
      }).catch((e) => {
        throw new OciError((e as Error).message);
      })).pidfd;
    } else {
      const plan: Plan = {
        cloneFlags: 0,
        steps: [
          ...stdio,
          closeOtherFds(),
          unblockSignals(),
          execPath(h.path, argv, h.env ?? [], `exec the ${kind} hook ${h.path}`),
        ],
      };
      try {
        pidfd = (await spawn(plan)).pidfd;
      } catch (e) {
        throw new OciError(`${kind} hook ${h.path}: ${(e as Error).message}`);
      }
    }
    shut(inR);
    shut(outW);
    try {
      writeAll(inW, new TextEncoder().encode(state), "hook stdin");
    } catch { /* the hook does not read its stdin */ }
    shut(inW);
    const chunks: Uint8Array[] = [];
    const reading = (async () => {
      const buf = new Uint8Array(4096);
      for (;;) {
        const n = await readAsync(outR, buf, "hook output").catch(() => 0);
        if (n <= 0) return;
        chunks.push(buf.slice(0, n));
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((r) => {
      if (h.timeout) timer = setTimeout(() => r("timeout"), h.timeout * 1000);
    });
    const status = await Promise.race([waitPidfd(pidfd), timedOut]);
    if (timer !== undefined) clearTimeout(timer);
    if (status === "timeout") {
      signalPidfd(pidfd, SIGNALS.SIGKILL);
      await waitPidfd(pidfd);
      throw new OciError(`${kind} hook ${h.path} timed out after ${h.timeout}s`);
    }
    await settleWithin(reading, 1000);
    if (status.code !== 0) {
      const out = new TextDecoder().decode(concat(...chunks)).trim();
      throw new OciError(
        `${kind} hook ${h.path} failed with status ${status.code}${out ? `: ${out}` : ""}`,
      );
    }
  } finally {
    for (const fd of [...live]) shut(fd);
    if (pidfd >= 0) close(pidfd);
  }
}
