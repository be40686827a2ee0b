/**
 * The container process's own setup, as plan steps after pivot_root:
 * session, hostname, stdio or pty, rlimits, groups and ids, capabilities,
 * no_new_privs, fds, signals, working directory, and the execve tries along
 * PATH (exactly what execvp does).
 * @module
 */

import { CAP_VERSION_3, CAPS, O, PR, RLIMIT } from "../../ffi/constants.ts";
import { capMask } from "./capabilities.ts";
import type { ContainerConfig } from "../config/container.ts";
import { int, NULL, slot, type Step, str, syncPoint } from "./plan.ts";
import {
  chdirTo,
  closeFd,
  closeOtherFds,
  controllingPty,
  dieWithParent,
  dupTo,
  execSteps,
  resetSignals,
  stdinFromNull,
  unblockSignals,
} from "./steps.ts";

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

/** Steps from setsid to execve. */
export function processSteps(
  cfg: ContainerConfig,
  opts: { resetSignals: readonly number[]; lastCap: number },
): Step[] {
  const p = cfg.process;
  const steps: Step[] = [];
  // A pty makes its own session (setsid first); without one the session is made here.
  if (!p.terminal) steps.push({ call: "setsid", args: [], label: "start a new session" });
  if (cfg.namespaces.uts.kind === "new" && cfg.hostname) {
    steps.push(nameStep("sethostname", "hostname", cfg.hostname));
  }
  if (cfg.oci?.domainname) steps.push(nameStep("setdomainname", "domainname", cfg.oci.domainname));
  if (p.terminal) {
    steps.push(
      ...syncPoint(PHASE_PTY, "the pty's master can be opened"),
      ...controllingPty("/dev/pts/0"),
    );
  } else {
    if (!p.stdin) steps.push(stdinFromNull());
    if (p.stdio) {
      steps.push(
        dupTo(int(p.stdio.stdout), 1, "stdout to the log pipe"),
        dupTo(int(p.stdio.stderr), 2, "stderr to the log pipe"),
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
  steps.push(
    ...identitySteps(p, opts.lastCap),
    closeOtherFds(3 + (cfg.oci?.preserveFds ?? 0)),
    ...resetSignals(opts.resetSignals),
    chdirTo(p.cwd),
  );
  if (p.dieWithParent) steps.push(dieWithParent());
  steps.push(unblockSignals());
  if (cfg.oci?.gateFd !== undefined) steps.push(...gateSteps(cfg.oci.gateFd));
  steps.push(...execSteps(p.args, p.env));
  return steps;
}

/** sethostname or setdomainname. */
function nameStep(call: "sethostname" | "setdomainname", what: string, name: string): Step {
  const b = new TextEncoder().encode(name);
  return { call, args: [str(name), int(b.length)], label: `set ${what} ${name}` };
}

/** Sync phase at which an OCI container is set up and about to wait for `start`. */
export const PHASE_CREATED = 2;

/** The name of the exec fifo in an OCI container's state directory. */
export const EXEC_FIFO = "exec.fifo";

/**
 * The create/start gate of an OCI container: report "created", then open the
 * exec fifo for writing, which blocks until `start` opens it for reading,
 * and write one byte for `start` to read. The fifo is reached through an
 * O_PATH fd of its directory inherited from ctr (`dirFd`): its path means
 * nothing after pivot_root or chroot, and the fd needs no /proc.
 */
function gateSteps(dirFd: number): Step[] {
  const gate = slot("exec_fifo");
  return [
    ...syncPoint(PHASE_CREATED, "the container is created"),
    {
      call: "openat",
      args: [
        int(dirFd),
        str(EXEC_FIFO),
        int(O.WRONLY | O.CLOEXEC, "O_WRONLY|O_CLOEXEC"),
      ],
      label: "wait for start (open the exec fifo)",
      save: gate,
      hints: { ENOENT: "the exec fifo is gone: the container was deleted before it started" },
    },
    {
      call: "write",
      args: [{ ref: gate }, { bytes: new Uint8Array([0x30]), show: '"0"' }, int(1)],
      label: "tell start the command runs now",
    },
    closeFd({ ref: gate }, "close the exec fifo"),
    closeFd(int(dirFd), "close the state directory's O_PATH fd"),
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
