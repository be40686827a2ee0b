/**
 * The container process's own setup, as plan steps after pivot_root:
 * session, hostname, stdio or pty, rlimits, groups and ids, capabilities,
 * no_new_privs, fds, signals, working directory, and the execve tries along
 * PATH (exactly what execvp does).
 * @module
 */

import {
  AT,
  CAP_VERSION_3,
  CAPS,
  CLOSE_RANGE,
  flagNames,
  O,
  PR,
  RLIMIT,
  TIOC,
} from "../../ffi/constants.ts";
import { capMask } from "./capabilities.ts";
import { type ContainerConfig, DEFAULT_PATH } from "../config/container.ts";
import { int, NULL, slot, type Step, str, syncPoint } from "./plan.ts";

/** Sync phase at which the parent opens the container's pty master. */
export const PHASE_PTY = 1;

const u32le = (...words: number[]) => new Uint8Array(new Uint32Array(words).buffer);

/** The struct rlimit64 for prlimit64. */
function rlimit(soft: bigint, hard: bigint): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, soft, true);
  v.setBigUint64(8, hard, true);
  return b;
}

/** The signals whose disposition ctr's process changed (caught or ignored): reset in the child. */
export function changedSignals(): number[] {
  const status = Deno.readTextFileSync("/proc/self/status");
  const mask = (key: string) =>
    BigInt("0x" + (status.match(new RegExp(`^${key}:\\s*([0-9a-f]+)`, "m"))?.[1] ?? "0"));
  const m = mask("SigCgt") | mask("SigIgn");
  const out: number[] = [];
  for (let s = 1; s <= 64; s++) if (s !== 9 && s !== 19 && (m >> BigInt(s - 1)) & 1n) out.push(s);
  return out;
}

/** The value of a variable in an env list. */
export function envValue(env: readonly string[], name: string): string | undefined {
  const e = env.findLast((x) => x.startsWith(name + "="));
  return e?.slice(name.length + 1);
}

/** The execve tries for a command, along PATH when it has no slash. */
export function execSteps(args: readonly string[], env: readonly string[]): Step[] {
  const cmd = args[0];
  const candidates = cmd.includes("/")
    ? [cmd]
    : (envValue(env, "PATH") ?? DEFAULT_PATH).split(":").map((d) => `${d || "."}/${cmd}`);
  return candidates.map((path, i) => ({
    call: "execve" as const,
    args: [str(path), { strv: args }, { strv: env }],
    label: `exec ${path}`,
    tolerate: i < candidates.length - 1 ? ["ENOENT", "EACCES"] : undefined,
  }));
}

/** Steps from setsid to execve. */
export function processSteps(
  cfg: ContainerConfig,
  opts: { resetSignals: readonly number[]; lastCap: number },
): Step[] {
  const p = cfg.process;
  const steps: Step[] = [{ call: "setsid", args: [], label: "start a new session" }];
  if (cfg.namespaces.uts.kind === "new" && cfg.hostname) {
    const b = new TextEncoder().encode(cfg.hostname);
    steps.push({
      call: "sethostname",
      args: [str(cfg.hostname), int(b.length)],
      label: `set hostname ${cfg.hostname}`,
    });
  }
  if (cfg.oci?.domainname) {
    const b = new TextEncoder().encode(cfg.oci.domainname);
    steps.push({
      call: "setdomainname",
      args: [str(cfg.oci.domainname), int(b.length)],
      label: `set domainname ${cfg.oci.domainname}`,
    });
  }
  if (p.terminal) {
    const tty = slot("tty");
    steps.push(
      ...syncPoint(PHASE_PTY, "the pty's master can be opened"),
      {
        call: "openat",
        args: [int(AT.FDCWD, "AT_FDCWD"), str("/dev/pts/0"), int(O.RDWR, "O_RDWR")],
        label: "open the pty /dev/pts/0",
        save: tty,
      },
      ...[0, 1, 2].map((fd): Step => ({
        call: "dup3",
        args: [{ ref: tty }, int(fd), int(0)],
        label: `pty as fd ${fd}`,
      })),
      {
        call: "ioctl",
        args: [int(0), int(TIOC.SCTTY, "TIOCSCTTY"), int(0)],
        label: "make the pty the controlling terminal",
      },
      { call: "close", args: [{ ref: tty }], label: "close the extra pty fd" },
    );
  } else {
    if (!p.stdin) {
      steps.push({
        call: "dup3",
        args: [{ fd: "devNull" }, int(0), int(0)],
        label: "stdin from /dev/null",
      });
    }
    if (p.stdio) {
      steps.push(
        {
          call: "dup3",
          args: [int(p.stdio.stdout), int(1), int(0)],
          label: "stdout to the log pipe",
        },
        {
          call: "dup3",
          args: [int(p.stdio.stderr), int(2), int(0)],
          label: "stderr to the log pipe",
        },
      );
    }
  }
  const umask = cfg.oci?.umask ?? 0o22;
  steps.push({
    call: "umask",
    args: [int(umask, "0" + umask.toString(8))],
    label: `umask 0${umask.toString(8)}`,
  });
  for (const r of p.rlimits) {
    steps.push({
      call: "prlimit64",
      args: [int(0), int(RLIMIT[r.type], `RLIMIT_${r.type.toUpperCase()}`), {
        bytes: rlimit(r.soft, r.hard),
        show: `{${r.soft}, ${r.hard}}`,
      }, NULL],
      label: `set RLIMIT_${r.type.toUpperCase()} to ${r.soft}:${r.hard}`,
      hints: { EPERM: "raising a hard limit needs CAP_SYS_RESOURCE" },
    });
  }
  steps.push(...identitySteps(p, opts.lastCap));
  const firstClosed = 3 + (cfg.oci?.preserveFds ?? 0);
  steps.push({
    call: "close_range",
    args: [
      int(firstClosed),
      int(0xffffffff, "~0U"),
      int(CLOSE_RANGE.CLOEXEC, flagNames(CLOSE_RANGE.CLOEXEC, CLOSE_RANGE, "CLOSE_RANGE_")),
    ],
    label: "close every other fd at exec",
  });
  for (const s of opts.resetSignals) {
    steps.push({
      call: "rt_sigaction",
      args: [int(s), { bytes: new Uint8Array(32), show: "{SIG_DFL}" }, NULL, int(8)],
      label: `reset signal ${s} to its default`,
    });
  }
  steps.push({ call: "chdir", args: [str(p.cwd)], label: `chdir ${p.cwd}` });
  if (p.dieWithParent) {
    steps.push({
      call: "prctl",
      args: [int(PR.SET_PDEATHSIG, "PR_SET_PDEATHSIG"), int(9, "SIGKILL")],
      label: "die with ctr",
    });
  }
  steps.push({
    call: "rt_sigprocmask",
    args: [int(2, "SIG_SETMASK"), { bytes: new Uint8Array(8), show: "[]" }, NULL, int(8)],
    label: "unblock all signals",
  });
  if (cfg.oci?.gateFd !== undefined) steps.push(...gateSteps(cfg.oci.gateFd));
  steps.push(...execSteps(p.args, p.env));
  return steps;
}

/** Sync phase at which an OCI container is set up and about to wait for `start`. */
export const PHASE_CREATED = 2;

/**
 * The create/start gate of an OCI container: report "created", then open the
 * exec fifo for writing (through the O_PATH fd inherited from ctr: the
 * fifo's path is not visible after pivot_root), which blocks until `start`
 * opens it for reading, and write one byte for `start` to read.
 */
function gateSteps(fd: number): Step[] {
  const gate = slot("exec_fifo");
  return [
    ...syncPoint(PHASE_CREATED, "the container is created"),
    {
      call: "openat",
      args: [int(AT.FDCWD, "AT_FDCWD"), str(`/proc/self/fd/${fd}`), int(O.WRONLY | O.CLOEXEC)],
      label: "wait for start (open the exec fifo)",
      save: gate,
      hints: { ENOENT: "the container has no /proc mount to reach the exec fifo through" },
    },
    {
      call: "write",
      args: [{ ref: gate }, { bytes: new Uint8Array([0x30]), show: '"0"' }, int(1)],
      label: "tell start the command runs now",
    },
    { call: "close", args: [{ ref: gate }], label: "close the exec fifo" },
    { call: "close", args: [int(fd)], label: "close the exec fifo's O_PATH fd" },
  ];
}

/** The process identity a container's command gets. */
export type Identity = Pick<
  ContainerConfig["process"],
  "uid" | "gid" | "groups" | "caps" | "noNewPrivileges"
>;

/**
 * Bounding set, groups, ids, capabilities and no_new_privs, in the order
 * that keeps the rights to do the next step until the end.
 */
export function identitySteps(p: Identity, lastCap: number): Step[] {
  const steps: Step[] = [];
  const keep = new Set(p.caps.map((c) => CAPS[c]));
  for (let c = 0; c <= lastCap; c++) {
    if (keep.has(c)) continue;
    const name = Object.keys(CAPS).find((k) => CAPS[k] === c) ?? String(c);
    steps.push({
      call: "prctl",
      args: [int(PR.CAPBSET_DROP, "PR_CAPBSET_DROP"), int(c, `CAP_${name}`)],
      label: `drop CAP_${name} from the bounding set`,
      tolerate: ["EINVAL"],
    });
  }
  steps.push(
    {
      call: "setgroups",
      args: [int(p.groups.length), { bytes: u32le(...p.groups), show: `[${p.groups.join(", ")}]` }],
      label: `set supplementary groups ${p.groups.join(",") || "(none)"}`,
    },
    {
      call: "setresgid",
      args: [int(p.gid), int(p.gid), int(p.gid)],
      label: `set gid ${p.gid}`,
      hints: { EINVAL: "the gid is not mapped in the user namespace" },
    },
    {
      call: "setresuid",
      args: [int(p.uid), int(p.uid), int(p.uid)],
      label: `set uid ${p.uid}`,
      hints: { EINVAL: "the uid is not mapped in the user namespace" },
    },
  );
  if (p.uid === 0) {
    // Root keeps its capabilities across setresuid(0); trim them to the set.
    // A non-root user has none left after setresuid, as in docker.
    const mask = capMask(p.caps);
    const lo = Number(mask & 0xffffffffn), hi = Number(mask >> 32n);
    steps.push({
      call: "capset",
      args: [
        { bytes: u32le(CAP_VERSION_3, 0), show: "{_LINUX_CAPABILITY_VERSION_3, 0}" },
        { bytes: u32le(lo, lo, 0, hi, hi, 0), show: `{eff=prm=0x${mask.toString(16)}, inh=0}` },
      ],
      label: "set the capabilities",
    });
  }
  if (p.noNewPrivileges) {
    steps.push({
      call: "prctl",
      args: [int(PR.SET_NO_NEW_PRIVS, "PR_SET_NO_NEW_PRIVS"), int(1)],
      label: "set no_new_privs",
    });
  }
  return steps;
}
