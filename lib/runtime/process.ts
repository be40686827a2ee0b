/**
 * The container process's own setup, as plan steps after pivot_root:
 * session, hostname, stdio or pty, rlimits, groups and ids, capabilities,
 * no_new_privs, fds, signals, working directory, and the execve tries along
 * PATH (exactly what execvp does).
 * @module
 */

import { CAP_VERSION_3, CAPS, O, PR, RLIMIT } from "../../ffi/constants.ts";
import { capMask } from "./capabilities.ts";
import { RunError } from "./errors.ts";
import type { PlanHost } from "./host.ts";
import { seccompFilter, seccompSteps } from "./seccomp/mod.ts";
import type { CapSets, ContainerConfig } from "../config/container.ts";
import { int, NULL, slot, type Step, str, syncPoint } from "./plan.ts";
import { INIT_ARGV0, initElf } from "../../ffi/init.ts";
import {
  chdirTo,
  closeFd,
  closeOtherFds,
  controllingPty,
  dieWithParent,
  dupTo,
  execFd,
  execSteps,
  memfdSteps,
  resetSignals,
  stdinFromNull,
  stopIfParentGone,
  unblockSignals,
  writeFileSteps,
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
export function processSteps(cfg: ContainerConfig, opts: ProcessHost): Step[] {
  const p = cfg.process;
  const steps: Step[] = [];
  // A pty makes its own session (setsid first); without one the session is made here.
  if (!p.terminal) steps.push({ call: "setsid", args: [], label: "start a new session" });
  if (cfg.namespaces.uts.kind === "new" && cfg.hostname) {
    steps.push(nameStep("sethostname", "hostname", cfg.hostname));
  }
  const domainname = cfg.domainname ?? cfg.oci?.domainname;
  if (domainname && cfg.namespaces.uts.kind === "new") {
    steps.push(nameStep("setdomainname", "domainname", domainname));
  }
  if (p.terminal) {
    steps.push(
      ...syncPoint(PHASE_PTY, "the pty's master can be opened"),
      ...controllingPty("/dev/pts/0"),
    );
  } else {
    if (p.stdio?.stdin !== undefined) {
      steps.push(dupTo(int(p.stdio.stdin), 0, "stdin from the watcher's pipe"));
    } else if (!p.stdin) steps.push(stdinFromNull());
    if (p.stdio) {
      steps.push(
        dupTo(int(p.stdio.stdout), 1, "stdout to the log pipe"),
        dupTo(int(p.stdio.stderr), 2, "stderr to the log pipe"),
      );
    }
    // `--attach`: the streams not attached go nowhere.
    if (p.attach && !p.attach.stdout) {
      steps.push(dupTo({ fd: "devNull" }, 1, "stdout to /dev/null"));
    }
    if (p.attach && !p.attach.stderr) {
      steps.push(dupTo({ fd: "devNull" }, 2, "stderr to /dev/null"));
    }
  }
  // --init: the init's executable goes into a memfd now, while nothing confines the process.
  const init = cfg.init ? slot("init") : undefined;
  if (init) steps.push(...memfdSteps("ctr-init", opts.initElf ?? initElf(), init));
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
  const tail = [
    closeOtherFds(3 + (cfg.oci?.preserveFds ?? 0)),
    ...resetSignals(opts.resetSignals),
    chdirTo(p.cwd),
    ...(p.dieWithParent ? [dieWithParent(), ...stopIfParentGone()] : []),
    unblockSignals(),
  ];
  // A listener fd goes to an OCI caller's listenerPath; ctr run has no agent to give one to.
  steps.push(...confinementSteps(p, opts, tail, { notify: cfg.oci !== undefined }));
  if (cfg.oci?.gateFd !== undefined) steps.push(...gateSteps(cfg.oci.gateFd));
  if (init) {
    steps.push(
      execFd({ ref: init }, [...INIT_ARGV0, ...p.args], p.env, `exec ctr-init -- ${p.args[0]}`),
    );
  } else steps.push(...execSteps(p.args, p.env));
  return steps;
}

/** What the process steps need of the host (see PlanHost). */
export type ProcessHost =
  & Pick<
    PlanHost,
    "resetSignals" | "lastCap" | "arch" | "seccompActions" | "kernelRelease" | "lsm"
  >
  & {
    /** The init executable for --init (default: this host's build); tests pass a fixed one. */
    readonly initElf?: Uint8Array;
  };

/** A process's confinement: its identity, LSM labels and seccomp filter. */
export type Confinement =
  & Identity
  & Pick<ContainerConfig["process"], "seccomp" | "apparmorProfile" | "selinuxLabel">;

/** Sync phase after a SCMP_ACT_NOTIFY filter is installed: the parent takes its listener fd. */
export const PHASE_SECCOMP_LISTENER = 4;

/**
 * The LSM labels, the identity and the seccomp filter, in runc's order:
 * labels first (they apply at the next execve; a label for an LSM the host
 * does not run is left out, as crun does, and the reader warns); without no_new_privs the
 * filter is installed while CAP_SYS_ADMIN is still held, before the
 * identity drops it; with no_new_privs as late as possible, after `tail`
 * (the steps between the identity and the exec). A filter that notifies
 * is followed by a sync point at which the parent takes its listener fd,
 * where `notify` allows one.
 */
export function confinementSteps(
  p: Confinement,
  host: Omit<ProcessHost, "resetSignals">,
  tail: readonly Step[],
  opts: { notify?: boolean } = {},
): Step[] {
  const steps: Step[] = [];
  if (p.apparmorProfile && host.lsm.apparmor) {
    // The profile applies at the next execve (what aa_change_onexec writes).
    steps.push(...writeFileSteps(
      "/proc/thread-self/attr/apparmor/exec",
      `exec ${p.apparmorProfile}`,
      "the AppArmor profile",
      { ENOENT: "this kernel has no /proc/thread-self/attr/apparmor" },
    ));
  }
  if (p.selinuxLabel && host.lsm.selinux) {
    steps.push(
      ...writeFileSteps("/proc/thread-self/attr/exec", p.selinuxLabel, "the SELinux label"),
    );
  }
  let filter: Step[] = [];
  if (p.seccomp) {
    let compiled;
    try {
      compiled = seccompFilter(p.seccomp, p.caps, host);
    } catch (e) {
      throw new RunError(`Cannot use the seccomp profile: ${(e as Error).message}`, 125);
    }
    if (compiled.notify && !opts.notify) {
      throw new RunError(
        "A seccomp profile with SCMP_ACT_NOTIFY needs an OCI listenerPath to send its fd to",
        125,
      );
    }
    filter = [
      ...seccompSteps(compiled),
      ...(compiled.notify
        ? syncPoint(PHASE_SECCOMP_LISTENER, "the seccomp listener fd can be taken")
        : []),
    ];
  }
  if (!p.noNewPrivileges) steps.push(...filter);
  steps.push(...identitySteps(p, host.lastCap), ...tail);
  if (p.noNewPrivileges) steps.push(...filter);
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
  "uid" | "gid" | "groups" | "caps" | "capSets" | "noNewPrivileges"
>;

/**
 * The sets a process ends with: as given (an OCI process), else docker's
 * (root: the bounding set effective and permitted; another user: none).
 */
export function capSetsOf(p: Pick<Identity, "uid" | "caps" | "capSets">): CapSets {
  if (p.capSets) return p.capSets;
  const mine = p.uid === 0 ? p.caps : [];
  return { effective: mine, permitted: mine, inheritable: [], ambient: [] };
}

/**
 * Bounding set, groups, ids, capabilities and no_new_privs, in the order
 * that keeps the rights to do the next step until the end. A user other
 * than root keeps permitted capabilities across setresuid only with
 * PR_SET_KEEPCAPS (which execve clears again); ambient ones are raised last,
 * since the kernel wants them permitted and inheritable first.
 */
export function identitySteps(p: Identity, lastCap: number): Step[] {
  const steps: Step[] = [];
  const keep = new Set(p.caps.map((c) => CAPS[c]));
  for (let c = 0; c <= lastCap; c++) {
    if (keep.has(c)) continue;
    steps.push({
      call: "prctl",
      args: [int(PR.CAPBSET_DROP, "PR_CAPBSET_DROP"), int(c, `CAP_${capNameOf(c)}`)],
      label: `drop CAP_${capNameOf(c)} from the bounding set`,
      tolerate: ["EINVAL"],
    });
  }
  const sets = capSetsOf(p);
  const keepCaps = p.uid !== 0 &&
    sets.permitted.length + sets.inheritable.length + sets.ambient.length > 0;
  if (keepCaps) {
    steps.push({
      call: "prctl",
      args: [int(PR.SET_KEEPCAPS, "PR_SET_KEEPCAPS"), int(1)],
      label: "keep the permitted capabilities across the change of uid",
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
  // Root keeps every capability across setresuid(0): trim them to the sets. Another user has
  // none left unless keepcaps kept the permitted ones, whose effective set is cleared.
  if (p.uid === 0 || keepCaps) {
    const [eff, prm, inh] = [sets.effective, sets.permitted, sets.inheritable].map(capMask);
    const words = (m: bigint) => [Number(m & 0xffffffffn), Number(m >> 32n)];
    const [e0, e1] = words(eff), [p0, p1] = words(prm), [i0, i1] = words(inh);
    steps.push({
      call: "capset",
      args: [
        { bytes: u32le(CAP_VERSION_3, 0), show: "{_LINUX_CAPABILITY_VERSION_3, 0}" },
        {
          bytes: u32le(e0, p0, i0, e1, p1, i1),
          show: `{eff=0x${eff.toString(16)}, prm=0x${prm.toString(16)}, inh=0x${inh.toString(16)}}`,
        },
      ],
      label: "set the capabilities",
      hints: { EPERM: "a capability is not in the permitted or bounding set" },
    });
  }
  // The kernel raises an ambient capability only when it is both permitted and inheritable.
  // runc and crun try the others, fail with EPERM and go on; `runc spec` itself writes ambient
  // capabilities without inheritable ones. So those are left out here, as good as their EPERM.
  const raisable = sets.ambient.filter((c) =>
    sets.permitted.includes(c) && sets.inheritable.includes(c)
  );
  for (const c of raisable) {
    steps.push({
      call: "prctl",
      args: [
        int(PR.CAP_AMBIENT, "PR_CAP_AMBIENT"),
        int(PR_CAP_AMBIENT_RAISE, "PR_CAP_AMBIENT_RAISE"),
        int(CAPS[c], `CAP_${c}`),
      ],
      label: `raise CAP_${c} in the ambient set`,
      hints: { EPERM: `CAP_${c} is not both permitted and inheritable` },
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

/** prctl(PR_CAP_AMBIENT, ...) operation that adds a capability to the ambient set. */
const PR_CAP_AMBIENT_RAISE = 2;

function capNameOf(c: number): string {
  return Object.keys(CAPS).find((k) => CAPS[k] === c) ?? String(c);
}
