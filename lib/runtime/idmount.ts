/**
 * Idmapped layers: a root ctr's container with a user namespace of its own
 * (`--userns`, `--uidmap`) sees the image's files with owners its namespace
 * maps. The store's layers belong to the host's ids (0 for most files),
 * which the container's namespace does not map: they read as nobody, and
 * the overlay cannot copy them up (EOVERFLOW, or EACCES on a directory of
 * root's). An idmapped mount of each layer (mount_setattr with
 * MOUNT_ATTR_IDMAP, Linux 5.12; overlay on idmapped layers, 5.19) shows host
 * id N as the id the namespace maps to N's container id, without a copy.
 *
 * Only a process with CAP_SYS_ADMIN in the layers' filesystem's namespace
 * (root) may make one, and the container's process is not root there once
 * it is in its user namespace: the parent makes them before the clone, as
 * detached mounts (open_tree) whose fds the child inherits, and the child
 * attaches them (move_mount) in its own mount namespace before it mounts
 * the overlay on them. The idmapping is taken from a namespace made for the
 * purpose with the container's maps (a short-lived helper process).
 * @module
 */

import { AT, CLONE, MOUNT_API, O } from "../../ffi/constants.ts";
import { addressOf, close, cString, open, sys } from "../../ffi/sys.ts";
import { int, type Plan, type Step, str, syncPoint } from "./plan.ts";
import { spawnSync, waitPidfdSync } from "./spawn.ts";
import { AT_FDCWD, closeFd } from "./steps.ts";
import { applyIdMaps, type IdMaps } from "./userns.ts";

/** Detached idmapped mounts of a container's layers, in cfg.layers' order. */
export interface IdmappedLayers {
  /** One O_CLOEXEC fd per layer, for the container's plan to attach. */
  readonly fds: readonly number[];
  /** Closes the fds (after the spawn: the child has its own copies). */
  close(): void;
}

/** A user namespace with `maps` that lives only while its helper waits: its fd goes to `fn`. */
function withUserns<T>(maps: IdMaps, fn: (userns: number) => T): T {
  const plan: Plan = {
    cloneFlags: CLONE.NEWUSER,
    steps: [
      closeFd({ fd: "syncWrite" }, "close the parent's end of the sync pipe"),
      closeFd({ fd: "errRead" }, "close the parent's end of the error pipe"),
      ...syncPoint(0, "the uid and gid maps, and the idmapped mounts"),
      { call: "exit_group", args: [int(0)], label: "done: the namespace was only an idmapping" },
    ],
  };
  let result: { value: T } | undefined;
  const child = spawnSync(plan, (pid) => {
    applyIdMaps(pid, maps);
    const userns = open(`/proc/${pid}/ns/user`, O.RDONLY | O.CLOEXEC);
    try {
      result = { value: fn(userns) };
    } finally {
      close(userns);
    }
  });
  waitPidfdSync(child.pidfd);
  close(child.pidfd);
  return result!.value;
}

/** A detached mount of `path` whose owners read through the idmapping of `userns`. */
function idmappedMount(path: string, userns: number): number {
  const fd = sys(
    "open_tree",
    path,
    AT.FDCWD,
    addressOf(cString(path)),
    MOUNT_API.OPEN_TREE_CLONE | MOUNT_API.OPEN_TREE_CLOEXEC | MOUNT_API.AT_RECURSIVE,
  );
  try {
    // struct mount_attr: attr_set, attr_clr, propagation, userns_fd.
    const attr = new BigUint64Array([BigInt(MOUNT_API.MOUNT_ATTR_IDMAP), 0n, 0n, BigInt(userns)]);
    sys(
      "mount_setattr",
      `${path} (MOUNT_ATTR_IDMAP)`,
      fd,
      addressOf(cString("")),
      AT.EMPTY_PATH | MOUNT_API.AT_RECURSIVE,
      addressOf(new Uint8Array(attr.buffer)),
      attr.byteLength,
    );
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/**
 * Idmapped detached mounts of `layers` for a container whose user namespace
 * has `maps`. Throws a SyscallError where the kernel or the filesystem
 * allows none (EINVAL, EPERM, ENOSYS): the caller goes on without.
 */
export function idmappedLayers(layers: readonly string[], maps: IdMaps): IdmappedLayers {
  const fds: number[] = [];
  try {
    withUserns(maps, (userns) => {
      for (const l of layers) fds.push(idmappedMount(l, userns));
    });
  } catch (e) {
    for (const fd of fds) close(fd);
    throw e;
  }
  return { fds, close: () => fds.splice(0).forEach((fd) => close(fd)) };
}

/** Where layer `i`'s idmapped mount is attached in the container's directory. */
export function idmappedLowerDir(dir: string, i: number): string {
  return `${dir}/lower/${i}`;
}

/** The child's steps that attach the inherited idmapped mounts below `dir`. */
export function attachIdmappedLayers(fds: readonly number[], dir: string): Step[] {
  return fds.map((fd, i) => ({
    call: "move_mount" as const,
    args: [
      int(fd),
      str(""),
      AT_FDCWD,
      str(idmappedLowerDir(dir, i)),
      int(MOUNT_API.MOVE_MOUNT_F_EMPTY_PATH, "MOVE_MOUNT_F_EMPTY_PATH"),
    ],
    label: `attach layer ${i}, idmapped, at ${idmappedLowerDir(dir, i)}`,
  }));
}
