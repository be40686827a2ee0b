/**
 * The container of a build's RUN step: the same launch path as `ctr run`
 * (a ContainerConfig, its plan, a cgroup, launch, wait), without a record in
 * the state directory (docker lists no build container either). Its output
 * goes to a pipe the build reads; once it has exited its overlay upper
 * directory is handed to the build, which makes the step's layer of it,
 * and then everything is removed: cgroup, network attachment, directory.
 *
 * The overlay is mounted with `redirect_dir=off,metacopy=off`, so the upper
 * directory holds each change as a whole entry (a renamed directory is
 * copied, never a redirect). Mount points the plan had to create for its
 * own mounts (`/proc`, `/etc/hosts`, a RUN --mount target) are removed from
 * the upper directory first, as BuildKit removes its mount stubs: they are
 * the runtime's, not the step's.
 *
 * A build container that outlives its ctr (SIGKILL) dies with it (the
 * parent-death signal); its directory holds `build.json` naming the owner,
 * so `ctr builder prune` can remove what is left.
 * @module
 */

import { close, pipe, readAsync } from "../../ffi/sys.ts";
import { limitsFromFlags } from "../cgroups/limits.ts";
import { openCgroupDriver } from "../cgroups/mod.ts";
import type { Cgroup } from "../cgroups/mod.ts";
import {
  type ContainerConfig,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  mergeEnv,
} from "../config/container.ts";
import type { Attachment } from "../network/bridge.ts";
import { writeNetworkFiles } from "../network/resolv.ts";
import { randomId } from "../config/names.ts";
import { isAlive, processStartTime } from "../os/proc.ts";
import { removeTree } from "../os/tree.ts";
import { capSet, limitToOwn, ownCaps } from "../runtime/capabilities.ts";
import { containerPlan, PHASE_START } from "../runtime/container_plan.ts";
import { planFailure, RunError } from "../runtime/errors.ts";
import { hardNofile, lastCap, readPlanHost } from "../runtime/host.ts";
import { launch } from "../runtime/launch.ts";
import { lookup, resolveInRoot } from "../runtime/paths.ts";
import { PlanError } from "../runtime/plan.ts";
import { linkLayers, needsLayerLinks } from "../runtime/rootfs.ts";
import { signalPidfd, waitPidfd } from "../runtime/spawn.ts";
import { resolveUser, type User } from "../runtime/user.ts";
import { isOpaque } from "../image/build/mod.ts";
import type { RunRequest } from "../image/build/executor.ts";
import {
  attach,
  hostNetworkFiles,
  makeCgroup,
  planCgroup,
  prepareDir,
  withNetworkFiles,
} from "./container.ts";

/** The hostname of a build step, as BuildKit names its sandbox. */
export const BUILD_HOSTNAME = "buildkitsandbox";

/** Overlay options that keep an upper directory a plain diff (see the module doc). */
export const DIFF_OVERLAY_OPTIONS: readonly string[] = ["redirect_dir=off", "metacopy=off"];

/** The file in a build container's directory naming the ctr that owns it. */
export const BUILD_MARKER = "build.json";

/**
 * A RUN step's container, as the build asks for it: the stage's layers (top
 * first; none for `FROM scratch` with nothing yet), the process, the
 * config's User, the network, the mounts with their host paths, where the
 * output goes, and the signal that kills it.
 */
export type BuildStep = RunRequest;

/** What a build step's config needs of the host (read once by the caller). */
export interface StepHost {
  /** ctr's --root: the container's directory goes to ROOT/containers/ID. */
  readonly root: string;
  readonly stateDir: string;
  readonly lastCap: number;
  /** The capabilities ctr holds (a mask). */
  readonly ownCaps: bigint;
  readonly hardNofile: bigint;
  /** An empty directory: the lower layer of a step that has no layer yet. */
  readonly emptyLayer: string;
  readonly newId: () => string;
}

/** This host's StepHost for the store in `root`. */
export function readStepHost(root: string, stateDir: string): StepHost {
  return {
    root,
    stateDir,
    lastCap: lastCap(),
    ownCaps: ownCaps(),
    hardNofile: hardNofile(),
    emptyLayer: `${root}/build/empty`,
    newId: randomId,
  };
}

/**
 * The ContainerConfig of a RUN step: docker's default capabilities, masked
 * and read-only paths, its own namespaces (the host's network with `host`),
 * the RUN process with stdout and stderr to `outputFd`. Pure.
 */
export function buildStepConfig(
  step: BuildStep,
  opts: { user: User; host: StepHost; outputFd?: number },
): ContainerConfig {
  const { user, host } = opts;
  const id = host.newId();
  const env = mergeEnv(step.env);
  if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${user.home}`);
  const nofile = host.hardNofile < 1048576n ? host.hardNofile : 1048576n;
  return {
    id,
    name: `build-${id.slice(0, 12)}`,
    image: "(build step)",
    layers: step.layers.length > 0 ? [...step.layers] : [host.emptyLayer],
    dir: `${host.root}/containers/${id}`,
    readOnly: false,
    overlayOptions: DIFF_OVERLAY_OPTIONS,
    namespaces: {
      user: { kind: "host" },
      mnt: { kind: "new" },
      pid: { kind: "new" },
      uts: { kind: "new" },
      ipc: { kind: "new" },
      net: step.network === "host" ? { kind: "host" } : { kind: "new" },
      cgroup: { kind: "new" },
    },
    uidMap: [],
    gidMap: [],
    hostname: BUILD_HOSTNAME,
    cgroup: { limits: limitsFromFlags({}) },
    network: { name: step.network === "bridge" ? "bridge" : undefined, aliases: [], ports: [] },
    stateDir: host.stateDir,
    mounts: [...step.mounts],
    maskedPaths: DEFAULT_MASKED_PATHS,
    readonlyPaths: DEFAULT_READONLY_PATHS,
    process: {
      args: [...step.args],
      env,
      cwd: step.cwd || "/",
      uid: user.uid,
      gid: user.gid,
      groups: user.groups,
      caps: limitToOwn(capSet([], [], undefined, host.lastCap), host.ownCaps, []),
      noNewPrivileges: false,
      rlimits: [{ type: "nofile", soft: nofile, hard: nofile }],
      // Docker's default profile, as a RUN under BuildKit and a `ctr run` container get.
      seccomp: { kind: "default" },
      terminal: false,
      stdin: false,
      dieWithParent: true,
      ...(opts.outputFd !== undefined &&
        { stdio: { stdout: opts.outputFd, stderr: opts.outputFd } }),
    },
  };
}

/** The container paths the plan may create as mount points. */
function mountPointsOf(cfg: ContainerConfig): string[] {
  const out = ["/proc", "/sys", "/dev", ...cfg.mounts.map((m) => m.destination)];
  if (cfg.namespaces.net.kind === "new") {
    out.push("/etc/hosts", "/etc/resolv.conf", "/etc/hostname");
  }
  return out;
}

/** A path and its parents, deepest first ("/a/b" → "/a/b", "/a"). */
function withParents(path: string): string[] {
  const out: string[] = [];
  for (let p = path; p !== "/" && p !== ""; p = p.slice(0, p.lastIndexOf("/")) || "/") out.push(p);
  return out;
}

/** Where a mount stub may appear in the upper directory, and what the layers had there before. */
export interface Stub {
  readonly path: string;
  /** The layers' entry (a directory whose copy-up the stub caused), if any. */
  readonly lower?: Deno.FileInfo;
}

/**
 * The mount points (and their parents) the plan may create in the upper
 * directory, found before the step runs: those the layers lack, and the
 * layers' directories a stub inside them would copy up. Deepest first.
 */
export function mountStubs(layers: readonly string[], destinations: readonly string[]): Stub[] {
  const seen = new Map<string, Stub>();
  for (const d of destinations) {
    const resolved = resolveInRoot(layers, d);
    const chain = withParents(resolved);
    if (lookup(layers, resolved)) continue;
    for (const p of chain) {
      if (seen.has(p)) continue;
      const found = lookup(layers, p);
      if (found && found.kind !== "dir") break;
      seen.set(p, { path: p, ...(found && { lower: Deno.lstatSync(found.hostPath) }) });
      if (found) break; // a directory of the layers: nothing above it was created
    }
  }
  return [...seen.values()].sort((a, b) => b.path.split("/").length - a.path.split("/").length);
}

function isEmptyDir(p: string): boolean {
  for (const _ of Deno.readDirSync(p)) return false;
  return true;
}

/**
 * Removes from an upper directory the mount stubs the step's processes did
 * not change: empty files and directories the layers lacked, and copied-up
 * directories of the layers left empty and with their old mode and owner.
 */
export function removeMountStubs(upper: string, stubs: readonly Stub[]): void {
  for (const s of stubs) {
    const p = upper + s.path;
    let st: Deno.FileInfo;
    try {
      st = Deno.lstatSync(p);
    } catch {
      continue;
    }
    const empty = st.isDirectory ? isEmptyDir(p) : st.isFile && st.size === 0;
    if (!empty) continue;
    if (s.lower) {
      // An opaque directory is a deletion of the layers' contents, not a stub.
      const same = st.isDirectory && s.lower.isDirectory && st.mode === s.lower.mode &&
        st.uid === s.lower.uid && st.gid === s.lower.gid && !isOpaque(p);
      if (!same) continue;
    }
    Deno.removeSync(p);
  }
}

/** What the marker of a build container records, for the cleanup of a crashed build. */
interface Marker {
  readonly pid: number;
  readonly startTime: number;
  readonly cgroupPaths?: Readonly<Record<string, string>>;
}

function writeMarker(cfg: ContainerConfig, cg?: Cgroup): void {
  const m: Marker = {
    pid: Deno.pid,
    startTime: processStartTime(Deno.pid) ?? 0,
    ...(cg && { cgroupPaths: { ...cg.paths } }),
  };
  Deno.writeTextFileSync(`${cfg.dir}/${BUILD_MARKER}`, JSON.stringify(m) + "\n");
}

/** How a build step ended. */
export interface StepResult<T> {
  /** The exit code (128+N when killed by signal N). */
  readonly code: number;
  /** What `onSuccess` returned (exit code 0 only). */
  readonly value?: T;
}

async function pump(fd: number, output?: (chunk: Uint8Array) => void): Promise<void> {
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await readAsync(fd, buf, "the build step's output pipe");
    if (n <= 0) return;
    output?.(buf.slice(0, n));
  }
}

/**
 * Runs a RUN step's container in the foreground. When it exits 0,
 * `onSuccess` gets its upper directory (mount stubs removed) before
 * anything is removed. Throws RunError when the container cannot start
 * (127: the shell is not found).
 */
export async function runBuildStep<T>(
  step: BuildStep,
  host: StepHost,
  onSuccess: (upper: string) => Promise<T>,
): Promise<StepResult<T>> {
  let user: User;
  try {
    user = resolveUser(step.user || undefined, step.layers);
  } catch (e) {
    throw new RunError((e as Error).message, 125);
  }
  Deno.mkdirSync(host.emptyLayer, { recursive: true, mode: 0o755 });
  const [outR, outW] = pipe();
  const fds = [outR, outW];
  const closeFd = (fd: number) => {
    const i = fds.indexOf(fd);
    if (i !== -1) close(fds.splice(i, 1)[0]);
  };
  const cfg = buildStepConfig(step, { user, host, outputFd: outW });
  const stubs = mountStubs(cfg.layers, mountPointsOf(cfg));
  let cg: Cgroup | undefined;
  const attachments: Attachment[] = [];
  let pidfd = -1;
  let made = false;
  const kill = () => {
    if (pidfd >= 0) {
      try {
        signalPidfd(pidfd, 9);
      } catch { /* gone */ }
    }
  };
  try {
    step.signal?.throwIfAborted();
    prepareDir(cfg);
    made = true;
    writeMarker(cfg);
    if (needsLayerLinks(cfg, false)) linkLayers(cfg);
    if (cfg.namespaces.net.kind === "new") {
      writeNetworkFiles(cfg.dir, { hostname: BUILD_HOSTNAME });
    } else if (hostNetworkFiles(cfg)) {
      // RUN --network=host: the host's hosts and resolv.conf, as for `run --net=host`.
      writeNetworkFiles(cfg.dir, { hostNetwork: true, hostname: BUILD_HOSTNAME });
    }
    const planHost = readPlanHost();
    const plan = containerPlan(withNetworkFiles(cfg), planHost);
    const intent = planCgroup(cfg, planHost.cgroups);
    if (intent) cg = await makeCgroup(cfg, intent);
    if (cg) writeMarker(cfg, cg);
    try {
      const spawned = await launch(plan, {
        cgroup: cg,
        onPhase: async (phase, pid) => {
          if (phase === PHASE_START) await attach(cfg, pid, false, attachments);
        },
      });
      pidfd = spawned.pidfd;
    } catch (e) {
      if (e instanceof PlanError) {
        throw planFailure(e, cfg.process.args[0], "Cannot start the build step's container");
      }
      throw e;
    }
    closeFd(outW);
    step.signal?.addEventListener("abort", kill);
    // Aborted while it was being set up (a server reads the setup off its event loop).
    if (step.signal?.aborted) kill();
    const reading = pump(outR, step.output);
    const status = await waitPidfd(pidfd);
    await reading;
    step.signal?.removeEventListener("abort", kill);
    if (status.code !== 0 || step.signal?.aborted) return { code: status.code };
    const upper = `${cfg.dir}/upper`;
    removeMountStubs(upper, stubs);
    return { code: 0, value: await onSuccess(upper) };
  } finally {
    step.signal?.removeEventListener("abort", kill);
    for (const fd of [...fds]) closeFd(fd);
    if (pidfd >= 0) close(pidfd);
    const report = (e: unknown) => console.error(`ctr: ${(e as Error).message}`);
    // Its processes first: its network namespace, and its veth, end with them.
    await cg?.killAll().catch(report);
    for (const a of attachments) await a.teardown().catch(report);
    await cg?.destroy().catch(report);
    if (made) removeTree(cfg.dir);
  }
}

/**
 * Removes the build containers of `root` whose ctr is gone (killed during a
 * build): their cgroups and directories. Returns how many it removed.
 */
export async function removeStaleBuildSteps(root: string): Promise<number> {
  let n = 0;
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(`${root}/containers`)];
  } catch {
    return 0;
  }
  for (const e of entries) {
    const dir = `${root}/containers/${e.name}`;
    let m: Marker;
    try {
      m = JSON.parse(Deno.readTextFileSync(`${dir}/${BUILD_MARKER}`));
    } catch {
      continue; // not a build container
    }
    if (isAlive({ pid: m.pid, startTime: m.startTime })) continue;
    if (m.cgroupPaths && Object.keys(m.cgroupPaths).length > 0) {
      const cg = openCgroupDriver().open(e.name, m.cgroupPaths);
      await cg.killAll().catch(() => {});
      await cg.destroy().catch(() => {});
    }
    removeTree(dir);
    n++;
  }
  return n;
}
