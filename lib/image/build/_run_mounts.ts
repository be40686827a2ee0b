/**
 * RUN --mount, on the host: what each mount of a step becomes for its
 * container (a bind of a host path, or a tmpfs), with BuildKit's rules:
 *
 * - `bind` (the default): a path of the context, a stage or an image
 *   (`from=`), read-only unless `rw`; writes to an `rw` bind are thrown
 *   away. The context's own directory is bound directly when nothing of it
 *   is excluded and the mount is read-only; otherwise the path is copied
 *   first (with COPY's rules: .dockerignore applies, stages and images are
 *   merged from their layers) into the step's temporary directory;
 * - `cache`: a directory kept across builds under
 *   `ROOT/build/cache-mounts/`, one per `id` (default: the target), made
 *   with `mode`, `uid` and `gid` (and seeded from `from`/`source` when
 *   new); `sharing=locked` waits for other builds using it, `private` takes
 *   a fresh directory when it is in use, `shared` (the default) neither;
 * - `tmpfs`: a tmpfs (`size=`);
 * - `secret` and `ssh`: ctr build has no secrets or agents to give: a
 *   `required` one is an error, any other is left out, as BuildKit leaves
 *   out a secret it does not have.
 *
 * The heredoc scripts of a RUN (`#!` heredocs) are files bound read-only
 * under /dev/pipes/.
 * @module
 */

import type { UserMount } from "../../config/container.ts";
import { hexOf, sha256 } from "../digest.ts";
import { FileLock } from "../../os/lock.ts";
import { cleanPath } from "./_match.ts";
import type { RunMount } from "./dockerfile.ts";
import type { RunFile } from "./image_config.ts";
import { type CopySource, planCopy } from "./copy.ts";
import { applyCopy } from "./staging.ts";

/** Mounts of one step, ready for its container, and what to release after it. */
export interface HostMounts {
  readonly mounts: UserMount[];
  /** Messages for the user (a secret left out). */
  readonly warnings: string[];
  /** Releases cache locks. */
  release(): void;
}

/** What hostMounts needs to know. */
export interface MountContext {
  /** The step's WORKDIR (relative targets start there). */
  readonly workdir: string;
  /** A fresh directory of the step, removed after it. */
  readonly tmp: string;
  /** ROOT/build/cache-mounts. */
  readonly cacheDir: string;
  /** Where a bind or cache mount reads from: `from` (a stage, an image) or the context. */
  source(from: string | undefined): Promise<CopySource>;
}

function target(m: RunMount, workdir: string): string {
  const t = m.target ?? "";
  if (t === "") throw new Error(`mount type ${m.type}: the target is required`);
  return cleanPath(t.startsWith("/") ? t : `${workdir || "/"}/${t}`);
}

/** A path of a source root, copied (COPY's rules) into `dir`; returns the host path to bind. */
async function materialize(src: CopySource, path: string, dir: string): Promise<string> {
  Deno.mkdirSync(dir, { mode: 0o755 });
  const e = src.root.stat(path);
  if (!e) throw new Error(`mount source ${path}: not found`);
  const plan = await planCopy({
    kind: "COPY",
    sources: [path],
    dest: "/",
    workdir: "/",
    from: src,
  });
  await applyCopy(plan, dir);
  if (e.info.isDirectory) return dir;
  return `${dir}/${e.path.slice(e.path.lastIndexOf("/") + 1)}`;
}

async function bindMount(
  m: RunMount,
  ctx: MountContext,
  n: number,
): Promise<UserMount> {
  const dest = target(m, ctx.workdir);
  const src = await ctx.source(m.from);
  const path = cleanPath("/" + (m.source ?? "/"));
  // One directory with nothing hidden is bound as it is; a read-only bind cannot change it.
  const direct = m.readOnly && src.root.layers.length === 1 &&
    (src.ignore === undefined || src.ignore.empty);
  let host: string;
  if (direct) {
    const e = src.root.stat(path);
    if (!e) throw new Error(`mount source ${path}: not found`);
    host = e.hostPath;
  } else {
    host = await materialize(src, path, `${ctx.tmp}/mount-${n}`);
  }
  return { type: "bind", source: host, destination: dest, readonly: m.readOnly };
}

async function cacheMount(
  m: RunMount,
  ctx: MountContext,
  n: number,
  locks: FileLock[],
): Promise<UserMount> {
  const dest = target(m, ctx.workdir);
  const id = m.id ?? dest;
  Deno.mkdirSync(ctx.cacheDir, { recursive: true, mode: 0o700 });
  let dir = `${ctx.cacheDir}/${hexOf(sha256(id))}`;
  const lockPath = `${dir}.lock`;
  if (m.sharing === "locked") locks.push(await FileLock.acquire(lockPath, "exclusive"));
  else if (m.sharing === "private") {
    const lock = FileLock.try(lockPath, "exclusive");
    if (lock) locks.push(lock);
    else dir = `${ctx.tmp}/cache-${n}`;
  }
  let fresh = false;
  try {
    Deno.mkdirSync(dir, { mode: m.mode ?? 0o755 });
    fresh = true;
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  if (fresh) {
    if (m.from !== undefined) {
      const seed = await materialize(
        await ctx.source(m.from),
        cleanPath("/" + (m.source ?? "/")),
        `${ctx.tmp}/seed-${n}`,
      );
      for (const e of Deno.readDirSync(seed)) {
        Deno.renameSync(`${seed}/${e.name}`, `${dir}/${e.name}`);
      }
    }
    Deno.chmodSync(dir, m.mode ?? 0o755);
    Deno.chownSync(dir, m.uid ?? 0, m.gid ?? 0);
  }
  return { type: "bind", source: dir, destination: dest, readonly: m.readOnly };
}

/**
 * The mounts of one RUN, on the host, and its heredoc scripts as read-only
 * files. Throws for a required secret or ssh agent and for a missing source.
 */
export async function hostMounts(
  mounts: readonly RunMount[],
  files: readonly RunFile[],
  ctx: MountContext,
): Promise<HostMounts> {
  const out: UserMount[] = [];
  const warnings: string[] = [];
  const locks: FileLock[] = [];
  const release = () => locks.splice(0).forEach((l) => l.release());
  try {
    for (const [n, m] of mounts.entries()) {
      switch (m.type) {
        case "bind":
          out.push(await bindMount(m, ctx, n));
          break;
        case "cache":
          out.push(await cacheMount(m, ctx, n, locks));
          break;
        case "tmpfs":
          out.push({
            type: "tmpfs",
            destination: target(m, ctx.workdir),
            options: m.size !== undefined ? `size=${m.size}` : "",
          });
          break;
        case "secret":
        case "ssh": {
          const what = m.type === "secret" ? `secret ${m.id ?? m.target ?? ""}` : "ssh agent";
          if (m.required) {
            throw new Error(`${what} is required, but ctr build has no secrets or ssh agents`);
          }
          warnings.push(`RUN --mount=type=${m.type}: ${what} left out (ctr build has none)`);
          break;
        }
      }
    }
    if (files.length > 0) {
      Deno.mkdirSync(`${ctx.tmp}/files`, { mode: 0o755 });
      for (const [i, f] of files.entries()) {
        const host = `${ctx.tmp}/files/${i}`;
        Deno.writeTextFileSync(host, f.data, { mode: f.mode });
        Deno.chmodSync(host, f.mode);
        out.push({ type: "bind", source: host, destination: f.path, readonly: true });
      }
    }
  } catch (e) {
    release();
    throw e;
  }
  return { mounts: out, warnings, release };
}
