/**
 * `ctr cp`: files between a container and the host, docker's command line:
 *
 *     ctr cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
 *     ctr cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH
 *
 * `-` is a tar stream on stdout or stdin. Container paths are relative to
 * its root and never leave it (lib/engine/copy.ts).
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { StateDir } from "../engine/state.ts";
import { isRunning } from "../engine/lifecycle.ts";
import {
  baseName,
  containerFs,
  hostSink,
  hostSource,
  NoSuchPathError,
  type Owner,
  placement,
  type Sink,
  tarSink,
  tarSource,
  wantsContents,
} from "../engine/copy.ts";
import { containerEvent } from "../engine/events.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";

/** The options of `ctr cp`. */
export const CP_OPTIONS: readonly OptionSpec[] = [
  {
    name: "archive",
    short: "a",
    type: "bool",
    help: "Archive mode (copy all uid/gid information)",
  },
  { name: "follow-link", short: "L", type: "bool", help: "Always follow symbol link in SRC_PATH" },
];

/**
 * docker's split of a cp argument: `CONTAINER:PATH`, or a local path (an
 * absolute one, one without a colon, or one starting with `.`).
 */
export function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith("/")) return { path: arg };
  const colon = arg.indexOf(":");
  if (colon < 0 || arg.startsWith(".")) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

/** A container path as docker takes it: relative paths start at the root. */
function inContainer(path: string): string {
  return path.startsWith("/") ? path : `/${path}`;
}

/** Whether a path's last symlink is followed: `-L`, or a trailing `/` or `/.`. */
function followsLast(path: string, followLink: boolean): boolean {
  return followLink || path.endsWith("/") || wantsContents(path);
}

function hostStat(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch {
    return undefined;
  }
}

/** Runs `ctr cp`; errors about paths are printed as docker's, exit status 1. */
export async function cpCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, CP_OPTIONS);
  if (positionals.length !== 2) throw new UsageError(`"ctr cp" requires exactly 2 arguments`);
  const src = splitCpArg(positionals[0]);
  const dst = splitCpArg(positionals[1]);
  if (src.container !== undefined && dst.container !== undefined) {
    throw new UsageError("copying between containers is not supported");
  }
  if (src.container === undefined && dst.container === undefined) {
    throw new UsageError("must specify at least one container source");
  }
  const follow = opts["follow-link"] === true;
  const dir = new StateDir(g.stateDir);
  const ref = (src.container ?? dst.container)!;
  const s = dir.find(ref);
  const fs = containerFs(s);
  try {
    if (src.container !== undefined) {
      const path = inContainer(src.path);
      const followTop = followsLast(src.path, follow);
      const info = fs.stat(path, followTop);
      if (!info) throw new NoSuchPathError(`No such container:path: ${ref}:${src.path}`);
      let sink: Sink;
      if (dst.path === "-") {
        sink = tarSink(
          Deno.stdout.writable,
          info.isDirectory && wantsContents(src.path) ? "" : baseName(path),
        );
      } else {
        const p = placement(
          { path: src.path, isDir: info.isDirectory },
          { path: dst.path, info: hostStat(dst.path) },
        );
        if (!hostStat(p.dir)?.isDirectory) {
          throw new NoSuchPathError(`lstat ${p.dir}: no such file or directory`);
        }
        sink = hostSink(p.dir, p.topName);
      }
      await fs.source(path, followTop)(sink);
      containerEvent(g.stateDir, s, "archive-path");
      return 0;
    }
    const cfg = s.config!;
    if (cfg.readOnly && !isRunning(s)) throw new Error("container rootfs is marked read-only");
    const owner: Owner = {
      archive: opts.archive === true,
      uidMap: cfg.namespaces.user.kind === "new" ? cfg.uidMap : [],
      gidMap: cfg.namespaces.user.kind === "new" ? cfg.gidMap : [],
    };
    const path = inContainer(dst.path);
    const dstInfo = fs.stat(path, true);
    if (src.path === "-") {
      if (!dstInfo?.isDirectory) {
        throw new NoSuchPathError(`destination "${ref}:${dst.path}" must be a directory`);
      }
      await tarSource(Deno.stdin.readable)(fs.sink(path, "", owner));
    } else {
      let info: Deno.FileInfo;
      try {
        info = follow ? Deno.statSync(src.path) : Deno.lstatSync(src.path);
      } catch {
        throw new NoSuchPathError(`lstat ${src.path}: no such file or directory`);
      }
      let p;
      try {
        p = placement({ path: src.path, isDir: info.isDirectory }, { path, info: dstInfo });
      } catch (e) {
        if (!(e instanceof NoSuchPathError)) throw e;
        throw new NoSuchPathError(`No such container:path: ${ref}:${dst.path.replace(/\/+$/, "")}`);
      }
      let sink: Sink;
      try {
        sink = fs.sink(p.dir, p.topName, owner);
      } catch (e) {
        if (e instanceof NoSuchPathError) {
          throw new NoSuchPathError(`No such container:path: ${ref}:${p.dir}`);
        }
        throw e;
      }
      await hostSource(src.path, follow)(sink);
    }
    containerEvent(g.stateDir, s, "extract-to-dir");
    return 0;
  } catch (e) {
    if (e instanceof NoSuchPathError) {
      console.error(`ctr: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    fs.close();
  }
}
