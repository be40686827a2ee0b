/**
 * What the plan builders need to know about the host, read once and passed
 * in: the builders themselves read nothing, so a plan is a function of its
 * config and this object, and tests compare plans with checked-in fixtures.
 * @module
 */

import { type Arch, hostArch } from "../../ffi/syscalls.ts";
import { S_IF } from "../../ffi/constants.ts";
import { fileType } from "../../ffi/sys.ts";
import { type CgroupLayout, hostCgroupLayout } from "../cgroups/mod.ts";

/** The host facts a plan depends on. */
export interface PlanHost {
  /** The highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap). */
  readonly lastCap: number;
  /** Signals whose disposition ctr's process changed (caught or ignored): reset in the child. */
  readonly resetSignals: readonly number[];
  /** The host's cgroup hierarchies, for the container's read-only /sys/fs/cgroup (none: not mounted). */
  readonly cgroups?: CgroupLayout;
  /** What a host path is: a masked path is hidden with a tmpfs (directory) or /dev/null (file). */
  kindOf(path: string): "dir" | "file" | undefined;
  /** The architecture a seccomp filter is compiled for. */
  readonly arch: Arch;
  /** The seccomp actions the kernel offers (/proc/sys/kernel/seccomp/actions_avail). */
  readonly seccompActions?: readonly string[];
  /** The kernel's release, for a seccomp profile's minKernel rules. */
  readonly kernelRelease?: string;
  /** The Linux security modules that are enabled. */
  readonly lsm: { readonly apparmor: boolean; readonly selinux: boolean };
  /**
   * ctr runs as a user without privileges (rootless): a user namespace with
   * a single gid mapped then denies setgroups (see runtime/userns.ts).
   */
  readonly unprivileged?: boolean;
}

/** Whether AppArmor and SELinux are enabled, as runc tells it (their securityfs and switches). */
export function enabledLsms(): PlanHost["lsm"] {
  const read = (p: string) => {
    try {
      return Deno.readTextFileSync(p);
    } catch {
      return undefined;
    }
  };
  const exists = (p: string) => {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  };
  return {
    apparmor: exists("/sys/kernel/security/apparmor") &&
      (read("/sys/module/apparmor/parameters/enabled") ?? "").startsWith("Y"),
    selinux: exists("/sys/fs/selinux/enforce"),
  };
}

/**
 * The signals set in the SigCgt or SigIgn masks of a /proc/PID/status text
 * (SIGKILL and SIGSTOP cannot be changed and are left out).
 */
export function changedSignals(status: string): number[] {
  const mask = (key: string) =>
    BigInt("0x" + (status.match(new RegExp(`^${key}:\\s*([0-9a-f]+)`, "m"))?.[1] ?? "0"));
  const m = mask("SigCgt") | mask("SigIgn");
  const out: number[] = [];
  for (let s = 1; s <= 64; s++) if (s !== 9 && s !== 19 && (m >> BigInt(s - 1)) & 1n) out.push(s);
  return out;
}

/** The highest capability number this kernel knows (40 when it cannot be read). */
export function lastCap(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap").trim());
  } catch {
    return 40;
  }
}

/** The hard limit of open files ctr itself has (a container never gets more). */
export function hardNofile(): bigint {
  try {
    const line = Deno.readTextFileSync("/proc/self/limits").split("\n").find((l) =>
      l.startsWith("Max open files")
    );
    const hard = line?.trim().split(/\s+/)[4];
    return hard && /^\d+$/.test(hard) ? BigInt(hard) : 1048576n;
  } catch {
    return 1024n;
  }
}

/** The seccomp actions this kernel offers, or undefined when it does not say. */
function seccompActions(): string[] | undefined {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/seccomp/actions_avail").trim().split(/\s+/);
  } catch {
    return undefined;
  }
}

/**
 * Whether a host path is a directory, a file or absent (a symlink is followed,
 * as a mount would follow it): one statx(2) each (fileType: most of a
 * container's dozen masked paths are absent, which costs no exception),
 * remembered for the plan. Listing their parents instead reads every process
 * of /proc.
 */
function kindCache(): (path: string) => "dir" | "file" | undefined {
  const kinds = new Map<string, "dir" | "file" | undefined>();
  return (p: string) => {
    if (kinds.has(p)) return kinds.get(p);
    const t = fileType(p)?.type;
    const kind = t === undefined ? undefined : t === S_IF.DIR ? "dir" : "file";
    kinds.set(p, kind);
    return kind;
  };
}

/**
 * The fds of this process above 2 that are copies of its stdin, stdout or
 * stderr (Deno keeps its own), by the open file they name. They stay open for
 * the life of the process, so their numbers are never reused.
 */
export function stdioCopies(): number[] {
  const target = (fd: string) => {
    try {
      return Deno.readLinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return undefined;
    }
  };
  const stdio = new Set(["0", "1", "2"].map(target).filter((t) => t?.includes(":[")));
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    const n = Number(e.name);
    const t = n > 2 ? target(e.name) : undefined;
    // Pipes and sockets only (pipe:[INODE]): a copy of a terminal or of /dev/null holds nothing up.
    if (t !== undefined && stdio.has(t)) out.push(n);
  }
  return out.sort((a, b) => a - b);
}

let fixed:
  | Pick<
    PlanHost,
    "lastCap" | "cgroups" | "arch" | "seccompActions" | "kernelRelease" | "lsm" | "unprivileged"
  >
  | undefined;

/**
 * This host's facts. The kernel's are read once per process; the signal
 * dispositions and the files' kinds each time, since ctr's own signal
 * handlers and the files a command makes (a volume's directory) can change
 * between two plans of one process.
 */
export function readPlanHost(): PlanHost {
  fixed ??= {
    lastCap: lastCap(),
    cgroups: hostCgroupLayout(),
    arch: hostArch(),
    seccompActions: seccompActions(),
    kernelRelease: Deno.osRelease(),
    lsm: enabledLsms(),
    ...(Deno.uid() !== 0 && { unprivileged: true }),
  };
  return {
    ...fixed,
    resetSignals: changedSignals(Deno.readTextFileSync("/proc/self/status")),
    kindOf: kindCache(),
  };
}
