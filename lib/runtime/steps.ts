/**
 * The step library: each system call a plan makes, encoded once, with its
 * symbolic rendering for `--dry-run` and the words its errors use. The plan
 * builders (process, rootfs, namespaces, container_plan, launch) compose
 * these; none of them spells a syscall's arguments by hand.
 * @module
 */

import {
  AF,
  AT,
  CLONE,
  CLOSE_RANGE,
  F,
  flagNames,
  IFF,
  O,
  PR,
  SIGNALS,
  SIOC,
  SOCK,
  TIOC,
} from "../../ffi/constants.ts";
import { DEFAULT_PATH, type NsType } from "../config/container.ts";
import { type Arg, int, NULL, type Slot, slot, type Step, str } from "./plan.ts";

/** The `AT_FDCWD` argument of the *at() calls. */
export const AT_FDCWD: Arg = int(AT.FDCWD, "AT_FDCWD");

/** Octal rendering of a file mode. */
export const mode = (m: number): Arg => int(m, "0" + m.toString(8));

/** The clone/setns flag of each namespace type. */
export const NS_FLAG: Readonly<Record<NsType, number>> = {
  user: CLONE.NEWUSER,
  mnt: CLONE.NEWNS,
  pid: CLONE.NEWPID,
  uts: CLONE.NEWUTS,
  ipc: CLONE.NEWIPC,
  net: CLONE.NEWNET,
  cgroup: CLONE.NEWCGROUP,
};

/** The symbolic name of a namespace's flag: CLONE_NEWNS for mnt. */
export function nsFlagName(type: NsType): string {
  return `CLONE_NEW${type === "mnt" ? "NS" : type.toUpperCase()}`;
}

/** openat(AT_FDCWD, path, flags): the fd is saved in `save`. */
export function openAt(
  path: string,
  flags: number,
  save: Slot,
  label: string,
  hints?: Readonly<Record<string, string>>,
): Step {
  return {
    call: "openat",
    args: [AT_FDCWD, str(path), int(flags, () => flagNames(flags, O, "O_") || "O_RDONLY")],
    label,
    save,
    hints,
  };
}

/** close(fd). */
export function closeFd(fd: Arg, label: string): Step {
  return { call: "close", args: [fd], label };
}

/** dup3(from, to, 0): `from` becomes fd `to`. */
export function dupTo(from: Arg, to: number, label: string): Step {
  return { call: "dup3", args: [from, int(to), int(0)], label };
}

/** stdin from /dev/null (the executor's own fd of it). */
export function stdinFromNull(): Step {
  return dupTo({ fd: "devNull" }, 0, "stdin from /dev/null");
}

/** fds 0, 1 and 2 on /dev/null (`devNull`: where the executor's /dev/null is): nobody reads a detached command's output. */
export function stdioToNull(devNull: Arg = { fd: "devNull" }): Step[] {
  return [0, 1, 2].map((fd) => dupTo(devNull, fd, `fd ${fd} to /dev/null`));
}

/**
 * A close-on-exec copy of `from` at the lowest free number from `min` up
 * (fcntl F_DUPFD_CLOEXEC), saved in `save`: moves an fd out of the way of
 * dup3s to fixed numbers, which would close whatever sits there.
 */
export function dupAbove(from: Arg, min: number, save: Slot, label: string): Step {
  return {
    call: "fcntl",
    args: [from, int(F.DUPFD_CLOEXEC, "F_DUPFD_CLOEXEC"), int(min)],
    label,
    save,
  };
}

/**
 * A new session with the pty at `path` as stdin, stdout, stderr and
 * controlling terminal (what login(1) does).
 */
export function controllingPty(path: string, name = "tty"): Step[] {
  const tty = slot(name);
  return [
    { call: "setsid", args: [], label: "start a new session" },
    openAt(path, O.RDWR, tty, `open the pty ${path}`),
    ...[0, 1, 2].map((fd) => dupTo({ ref: tty }, fd, `pty as fd ${fd}`)),
    {
      call: "ioctl",
      args: [int(0), int(TIOC.SCTTY, "TIOCSCTTY"), int(0)],
      label: "make the pty the controlling terminal",
    },
    closeFd({ ref: tty }, "close the extra pty fd"),
  ];
}

/**
 * Marks every fd from `first` to `last` (by default all from 3 on)
 * close-on-exec: nothing of ctr's leaks into the command.
 */
export function closeOtherFds(first = 3, last = 0xffffffff): Step {
  return {
    call: "close_range",
    args: [
      int(first),
      last === 0xffffffff ? int(last, "~0U") : int(last),
      int(CLOSE_RANGE.CLOEXEC, () => flagNames(CLOSE_RANGE.CLOEXEC, CLOSE_RANGE, "CLOSE_RANGE_")),
    ],
    label: "close every other fd at exec",
  };
}

/**
 * Every signal back to its default disposition: an ignored signal stays
 * ignored across execve (Deno ignores SIGPIPE, so `yes | head` would never
 * end), and a caught one must not point into ctr's memory.
 */
export function resetSignals(signals: readonly number[]): Step[] {
  return signals.map((s) => ({
    call: "rt_sigaction" as const,
    args: [int(s), { bytes: new Uint8Array(32), show: "{SIG_DFL}" }, NULL, int(8)],
    label: `reset signal ${s} to its default`,
  }));
}

/** An empty signal mask: the stub blocks all signals around clone, and the child inherits that. */
export function unblockSignals(): Step {
  return {
    call: "rt_sigprocmask",
    args: [int(2, "SIG_SETMASK"), { bytes: new Uint8Array(8), show: "[]" }, NULL, int(8)],
    label: "unblock all signals",
  };
}

/** SIGKILL when the parent (ctr) dies: a foreground container does not outlive its ctr. */
export function dieWithParent(): Step {
  return {
    call: "prctl",
    args: [int(PR.SET_PDEATHSIG, "PR_SET_PDEATHSIG"), int(SIGNALS.SIGKILL, "SIGKILL")],
    label: "die with ctr",
  };
}

/**
 * Right after dieWithParent(): stops the child if ctr died before the
 * prctl (the kernel signals only a death that comes after it, so a ctr
 * killed in between would leave the container running unwatched). ctr
 * holds the only write end of the sync pipe: a read that finds EOF means
 * it is gone; EAGAIN (nothing to read, non-blocking) means it is alive.
 */
export function stopIfParentGone(): Step[] {
  return [
    {
      call: "fcntl",
      args: [{ fd: "syncRead" }, int(F.SETFL, "F_SETFL"), int(O.NONBLOCK, "O_NONBLOCK")],
      label: "make the sync pipe non-blocking",
    },
    {
      call: "read",
      args: [{ fd: "syncRead" }, { bytes: new Uint8Array(8), show: "buf" }, int(1)],
      label: "stop if ctr is gone (EOF on the sync pipe)",
      expect: true,
      tolerate: ["EAGAIN"],
    },
  ];
}

/** chdir(path). */
export function chdirTo(path: string, label = `chdir ${path}`): Step {
  return { call: "chdir", args: [str(path)], label };
}

/** setns(fd, CLONE_NEW*): joins the namespace behind `fd`. */
export function joinNamespace(fd: Arg, type: NsType, path: string, hint?: string): Step {
  return {
    call: "setns",
    args: [fd, int(NS_FLAG[type], nsFlagName(type))],
    label: `join the ${type} namespace ${path}`,
    hints: { EINVAL: hint ?? `${path} is not a ${type} namespace` },
  };
}

/** Opens a file in the child, writes `value`, closes it (a sysctl under /proc/sys). */
export function writeFileSteps(
  path: string,
  value: string,
  what: string,
  hints?: Readonly<Record<string, string>>,
): Step[] {
  const fd = slot(`file_${what}`);
  const bytes = new TextEncoder().encode(value);
  return [
    openAt(path, O.WRONLY | O.CLOEXEC, fd, `open ${what}`, hints),
    {
      call: "write",
      args: [{ ref: fd }, { bytes, show: JSON.stringify(value) }, int(bytes.length)],
      label: `set ${what} = ${value}`,
    },
    closeFd({ ref: fd }, `close ${what}`),
  ];
}

/**
 * In a new user namespace the child still holds the host's ids, which the
 * maps do not name; it becomes the namespace's root first, so the files it
 * makes while building the root belong to the container's root user.
 */
export function becomeRoot(): Step[] {
  return [
    {
      call: "setgroups",
      args: [int(0), NULL],
      label: "drop the host's supplementary groups",
    },
    {
      call: "setresgid",
      args: [int(0), int(0), int(0)],
      label: "become gid 0 of the user namespace",
      hints: { EINVAL: "gid 0 is not mapped" },
    },
    {
      call: "setresuid",
      args: [int(0), int(0), int(0)],
      label: "become uid 0 of the user namespace",
      hints: { EINVAL: "uid 0 is not mapped" },
    },
  ];
}

/** Brings lo up from inside a new network namespace (SIOCSIFFLAGS). */
export function loopbackUp(): Step[] {
  const ifreq = new Uint8Array(40); // struct ifreq: ifr_name[16], then ifr_flags
  ifreq.set(new TextEncoder().encode("lo"));
  new DataView(ifreq.buffer).setUint16(16, IFF.UP | IFF.RUNNING, true);
  const sock = slot("lo_sock");
  return [
    {
      call: "socket",
      args: [
        int(AF.INET, "AF_INET"),
        int(SOCK.DGRAM | SOCK.CLOEXEC, "SOCK_DGRAM|SOCK_CLOEXEC"),
        int(0),
      ],
      label: "open a socket for lo",
      save: sock,
    },
    {
      call: "ioctl",
      args: [{ ref: sock }, int(SIOC.SIFFLAGS, "SIOCSIFFLAGS"), {
        bytes: ifreq,
        show: '{"lo", IFF_UP|IFF_RUNNING}',
      }],
      label: "bring lo up",
    },
    closeFd({ ref: sock }, "close the lo socket"),
  ];
}

/**
 * A fork on a second stack that shares memory until it execs
 * (CLONE_VM|CLONE_VFORK), as a sibling of the child (CLONE_PARENT): the new
 * process is in the pid namespace the child joined, and ctr reaps it. Its
 * pid lands in `child`; the first process exits.
 */
export function forkAsSibling(child: Slot): Step {
  const flags = CLONE.VM | CLONE.VFORK | CLONE.PARENT | SIGNALS.SIGCHLD;
  return {
    call: "clone",
    args: [
      int(flags, "CLONE_VM|CLONE_VFORK|CLONE_PARENT|SIGCHLD"),
      { stack: true },
      NULL,
      NULL,
      NULL,
    ],
    label: "fork into the joined pid namespace",
    fork: true,
    save: child,
  };
}

/**
 * A fork that hands the rest of the plan over to a sibling (CLONE_PARENT,
 * so ctr reaps it): the new process goes on with the next step, the first
 * one exits at once. They share memory (CLONE_VM) but not a stack, and
 * never run the same step: the old one only stores the result and exits.
 * The kernel writes the sibling's pid, as ctr's pid namespace numbers it
 * (the forking process is still in it), into `pid` before the sibling
 * runs (CLONE_PARENT_SETTID), where the executor reads it at the plan's
 * handover phase. This is how a container's first process lands in a pid
 * namespace that setns or unshare only gives to children.
 */
export function forkAndHandOver(pid: Slot): Step {
  const flags = CLONE.VM | CLONE.PARENT | CLONE.PARENT_SETTID | SIGNALS.SIGCHLD;
  return {
    call: "clone",
    args: [
      int(flags, "CLONE_VM|CLONE_PARENT|CLONE_PARENT_SETTID|SIGCHLD"),
      { stack: true },
      { slotAddr: pid },
      NULL,
      NULL,
    ],
    label: "fork the container's process into its pid namespace",
    fork: true,
    hints: { ENOMEM: "the pid namespace has no init any more" },
  };
}

/** execve of one path with `argv` as the whole argument vector (argv[0] included). */
export function execPath(
  path: string,
  argv: readonly string[],
  env: readonly string[],
  label = `exec ${path}`,
): Step {
  return { call: "execve", args: [str(path), { strv: argv }, { strv: env }], label };
}

/** The value of a variable in an env list (the last one wins, as in execve's caller). */
export function envValue(env: readonly string[], name: string): string | undefined {
  const e = env.findLast((x) => x.startsWith(name + "="));
  return e?.slice(name.length + 1);
}

/** memfd_create(2) flag (linux/memfd.h): the memfd is closed at exec (execveat of it still works). */
const MFD_CLOEXEC = 1;

/**
 * A memfd in the child holding `bytes` (a static executable): its fd lands
 * in `save`. A write to a memfd of a few KB is never short.
 */
export function memfdSteps(name: string, bytes: Uint8Array, save: Slot): Step[] {
  return [
    {
      call: "memfd_create",
      args: [str(name), int(MFD_CLOEXEC, "MFD_CLOEXEC")],
      label: `create a memfd for ${name}`,
      save,
    },
    {
      call: "write",
      args: [
        { ref: save },
        { bytes, show: `<${bytes.length} bytes of ${name}>` },
        int(bytes.length),
      ],
      label: `write ${name} into its memfd`,
    },
  ];
}

/** execveat(fd, "", argv, envp, AT_EMPTY_PATH): runs the executable behind an fd (a memfd). */
export function execFd(
  fd: Arg,
  argv: readonly string[],
  env: readonly string[],
  label: string,
): Step {
  return {
    call: "execveat",
    args: [fd, str(""), { strv: argv }, { strv: env }, int(AT.EMPTY_PATH, "AT_EMPTY_PATH")],
    label,
  };
}

/**
 * The execve tries for a command: along PATH when it has no slash, each try
 * but the last tolerating ENOENT and EACCES (exactly what execvp does).
 */
export function execSteps(args: readonly string[], env: readonly string[]): Step[] {
  const cmd = args[0];
  const candidates = cmd.includes("/")
    ? [cmd]
    : (envValue(env, "PATH") ?? DEFAULT_PATH).split(":").map((d) => `${d || "."}/${cmd}`);
  return candidates.map((path, i) => ({
    ...execPath(path, args, env),
    tolerate: i < candidates.length - 1 ? ["ENOENT", "EACCES"] : undefined,
  }));
}
