/**
 * The plan executor: encodes a plan into C memory, clones the child with the
 * native stub, serves the child's sync points, and reports the step that
 * failed. The child shares ctr's memory (CLONE_VM) until it execs, so the
 * arena stays mapped until the error pipe reports EOF (exec done) or failure.
 * @module
 */

import { Arena } from "../../ffi/arena.ts";
import { CLONE, CLONE3, F, flagNames, O, P, SIGNALS, W } from "../../ffi/constants.ts";
import { errno, SyscallError } from "../../ffi/errno.ts";
import { CTX, ENTRY, rawSpawn } from "../../ffi/stub.ts";
import { sysno } from "../../ffi/syscalls.ts";
import { addressOf, close, open, pipe, readSync, sys, sysAsync, writeAll } from "../../ffi/sys.ts";
import { trace } from "../trace.ts";
import {
  type Arg,
  type EmbeddedPointer,
  type Plan,
  PlanError,
  type Slot,
  SYNC_INDEX,
  toleratedErrnos,
} from "./plan.ts";

const SIGCHLD = SIGNALS.SIGCHLD;
const CHILD_STACK = 64 * 1024;
/** Whether clone3 with CLONE_INTO_CGROUP worked here; undefined until tried. */
let clone3Works: boolean | undefined;

/** What the parent does at a sync point, while the child waits. */
export type SyncHandler = (
  phase: number,
  pid: number,
  child: WaitingChild,
) => Promise<void> | void;

/** The child at a sync point, as the parent sees it while it waits. */
export interface WaitingChild {
  /** A pidfd of it (owned by spawn). */
  readonly pidfd: number;
  /** The value a step saved in the slot named `name` so far (CLONE_VM shares the arena). */
  slot(name: string): bigint | undefined;
}

/**
 * A cgroup v2 directory the child is to start in. spawn() clones it there
 * with clone3(CLONE_INTO_CGROUP) (Linux 5.7): it runs nothing outside, and no
 * process migration is needed (a write to cgroup.procs, which waits for an
 * RCU grace period). Where the kernel lacks clone3 or CLONE_INTO_CGROUP,
 * spawn() clones as usual and calls `join` at phase 0, before the handler.
 */
export interface CloneInto {
  /** An O_PATH descriptor of the cgroup directory, owned by the caller. */
  readonly fd: number;
  /** The directory, for errors. */
  readonly path: string;
  /** Moves the child in the usual way (the fallback). */
  join(pid: number): void;
}

/**
 * The CloneInto for a container cgroup, when its host allows one (see
 * Cgroup.cloneTarget); the caller closes `fd` after spawn().
 */
export function cloneInto(
  cg:
    | { path: string; cloneTarget(): number | undefined; addProcess(pid: number): void }
    | undefined,
): CloneInto | undefined {
  const fd = cg?.cloneTarget();
  if (cg === undefined || fd === undefined) return undefined;
  return { fd, path: cg.path, join: (pid) => cg.addProcess(pid) };
}

/** A started child. */
export interface Spawned {
  /** Its pid (in ctr's pid namespace). */
  readonly pid: number;
  /** A pidfd for it, owned by the caller. */
  readonly pidfd: number;
  /** Values the child saved in slots before it exec'd (CLONE_VM shares them). */
  readonly slots: ReadonlyMap<string, bigint>;
}

/** How a process ended. */
export interface ExitStatus {
  /** Exit code as a shell reports it: the code, or 128+signal. */
  readonly code: number;
  /** The signal that killed it, if any. */
  readonly signal?: number;
}

/** Renders clone flags by name. */
export function cloneFlagNames(flags: number): string {
  return flagNames(flags, CLONE, "CLONE_");
}

/** Copies a struct into the arena, with the buffers it points to and their addresses filled in. */
function bytesArg(arena: Arena, bytes: Uint8Array, pointers?: readonly EmbeddedPointer[]): bigint {
  if (!pointers?.length) return arena.data(bytes);
  const struct = bytes.slice();
  const view = new DataView(struct.buffer);
  for (const p of pointers) view.setBigUint64(p.at, arena.data(p.to), true);
  return arena.data(struct);
}

/** A 64-bit word from a number (a safe integer; a negative one in two's complement). */
function putWord(v: DataView, at: number, x: number): void {
  v.setUint32(at, x >>> 0, true);
  v.setUint32(at + 4, Math.floor(x / 0x1_0000_0000) >>> 0, true);
}

/**
 * Encodes the plan's entries into the arena; returns the entries' address.
 * Addresses and words are numbers here (an address is below 2^47), not
 * BigInts: a plan has hundreds of entries, and a BigInt per word was most
 * of this function's time and of the garbage a start leaves.
 */
function encode(
  plan: Plan,
  arena: Arena,
  fds: Record<string, number>,
  slots: Map<Slot, bigint>,
  stackTop: () => bigint,
): bigint {
  const base = Number(arena.base);
  const slotAddr = (s: Slot): number => {
    let a = slots.get(s);
    if (a === undefined) slots.set(s, a = arena.zeros(8));
    return Number(a);
  };
  const v = arena.view;
  /** Writes argument `a` at `at`; true when it is the address of the real argument. */
  const put = (at: number, a: Arg): boolean => {
    if ("int" in a) {
      if (typeof a.int === "bigint") v.setBigUint64(at, BigInt.asUintN(64, a.int), true);
      else putWord(v, at, a.int);
      return false;
    }
    let w: number;
    let indirect = false;
    if ("str" in a) w = base + arena.cstrOffset(a.str);
    else if ("strv" in a) w = Number(arena.strv(a.strv));
    else if ("bytes" in a) w = Number(bytesArg(arena, a.bytes, a.pointers));
    else if ("ref" in a) {
      w = slotAddr(a.ref);
      indirect = true;
    } else if ("slotAddr" in a) w = slotAddr(a.slotAddr);
    else if ("fd" in a) w = fds[a.fd];
    else w = Number(stackTop());
    putWord(v, at, w);
    return indirect;
  };
  const n = plan.steps.length;
  const off = arena.reserve(n * ENTRY.size, 16);
  const shift = Number(ENTRY.INDIRECT_SHIFT);
  for (let i = 0; i < n; i++) {
    const s = plan.steps[i];
    const e = off + i * ENTRY.size;
    let flags = (s.fork ? Number(ENTRY.FORK) : 0) | (s.expect ? Number(ENTRY.EXPECT) : 0);
    putWord(v, e + ENTRY.nr, sysno(s.call));
    // Entries are zero (a fresh arena): arguments past the step's own stay 0.
    for (let j = 0; j < s.args.length; j++) {
      if (put(e + ENTRY.args + 8 * j, s.args[j])) flags |= 1 << (shift + j);
    }
    if (s.tolerate?.length) {
      const [t1, t2] = toleratedErrnos(s);
      putWord(v, e + ENTRY.tol1, t1);
      putWord(v, e + ENTRY.tol2, t2);
    }
    putWord(v, e + ENTRY.flags, flags);
    if (s.save) putWord(v, e + ENTRY.save, slotAddr(s.save));
    if (s.parentJump) putWord(v, e + ENTRY.jump, s.parentJump);
  }
  return arena.addr(off);
}

/** A plan encoded into C memory with the executor's pipes, ready to clone. */
interface Prepared {
  readonly arena: Arena;
  /** The executor's fds by role (-1 once closed). */
  readonly fds: Record<PipeFdName, number>;
  readonly slots: Map<Slot, bigint>;
  /** The stub's context; its pidfd field receives the child's pidfd. */
  readonly ctx: bigint;
  readonly childStack: bigint;
  readonly flags: number;
}

type PipeFdName = "errRead" | "errWrite" | "syncRead" | "syncWrite" | "devNull";

/**
 * The executor's own fds sit from here up, clear of the numbers plans dup
 * onto (0-2, the watcher's 64-68, OCI's preserved 3..): a dup3 onto one of
 * them would close it under the executor. A busy process (`ctr serve`) has
 * its pipes at any number; the error pipe's write end closed that way made
 * ctr see EOF, free the plan's memory and leave the child to crash in it.
 */
const EXECUTOR_FDS_FROM = 100;

/** `fd` moved (close-on-exec) to EXECUTOR_FDS_FROM or above. */
function aboveFixed(fd: number, what: string): number {
  if (fd >= EXECUTOR_FDS_FROM) return fd;
  try {
    return sys("fcntl", what, fd, F.DUPFD_CLOEXEC, EXECUTOR_FDS_FROM);
  } finally {
    close(fd);
  }
}

/** Makes the arena, the pipes and the stub's context for `plan` (the caller frees them). */
function prepare(plan: Plan): Prepared {
  const arena = new Arena(Math.max(1 << 20, 64 * 1024 + plan.steps.length * 4096));
  const [errRead, errWrite] = pipe().map((fd) => aboveFixed(fd, "the error pipe"));
  const [syncRead, syncWrite] = pipe().map((fd) => aboveFixed(fd, "the sync pipe"));
  const devNull = aboveFixed(open("/dev/null", O.RDWR), "/dev/null");
  const fds = { errRead, errWrite, syncRead, syncWrite, devNull };
  const slots = new Map<Slot, bigint>();
  const newStack = () => arena.zeros(CHILD_STACK, 16) + BigInt(CHILD_STACK);
  const childStack = newStack();
  const entries = encode(plan, arena, fds, slots, newStack);
  const flags = plan.cloneFlags | CLONE.VM | CLONE.PIDFD;
  const ctx = arena.zeros(CTX.size, 16);
  arena.writeU64(ctx + BigInt(CTX.flags), BigInt(flags | SIGCHLD));
  arena.writeU64(ctx + BigInt(CTX.stack), childStack);
  arena.writeU64(ctx + BigInt(CTX.plan), entries);
  arena.writeU64(ctx + BigInt(CTX.count), BigInt(plan.steps.length));
  arena.writeU64(ctx + BigInt(CTX.errfd), BigInt(errWrite));
  arena.writeU64(ctx + BigInt(CTX.maskAll), 0xffffffffffffffffn);
  return { arena, fds, slots, ctx, childStack, flags };
}

/** After clone: the child's pidfd, and the parent's copies of the child's pipe ends closed. */
function cloned(p: Prepared, plan: Plan, pid: number): number {
  if (pid < 0) throw new SyscallError("clone", -pid, cloneFlagNames(plan.cloneFlags));
  const pidfd = Number(p.arena.readU64(p.ctx + BigInt(CTX.pidfd)) & 0xffffffffn);
  close(p.fds.errWrite);
  close(p.fds.syncRead);
  p.fds.errWrite = p.fds.syncRead = -1;
  return pidfd;
}

/** The child as a sync handler sees it. */
function waitingChild(p: Prepared, pidfd: number): WaitingChild {
  return {
    pidfd,
    slot: (name) => {
      for (const [sl, addr] of p.slots) if (sl.name === name) return p.arena.readU64(addr);
      return undefined;
    },
  };
}

/** The values of the slots, once the child has exec'd. */
function savedSlots(p: Prepared): Map<string, bigint> {
  const saved = new Map<string, bigint>();
  for (const [s, a] of p.slots) saved.set(s.name, p.arena.readU64(a));
  return saved;
}

/** A record of the error pipe: the failing step's index and result, or a sync phase. */
interface PipeRecord {
  readonly index: bigint;
  readonly value: number;
}

function record(rec: Uint8Array, got: number): PipeRecord | undefined {
  if (got === 0) return undefined; // EOF: execve succeeded, or the plan ended
  if (got !== rec.length) throw new Error(`Short record on the error pipe: ${got} bytes`);
  const dv = new DataView(rec.buffer);
  return { index: dv.getBigUint64(0, true), value: Number(dv.getBigInt64(8, true)) };
}

function nextRecord(errRead: number): PipeRecord | undefined {
  const rec = new Uint8Array(16);
  return record(rec, readFull(errRead, rec));
}

/**
 * Whether spawn() waits for the child's records on a worker thread instead
 * of in a blocking read. A command that starts one container blocks (a
 * worker's round trip per record costs more than the wait); a server that
 * sets many up at once must not stop its event loop for each child's setup.
 */
let readOffThread = false;

/** Makes spawn() wait for its children's records off the event loop (`ctr serve`). */
export function waitOffThread(on = true): void {
  readOffThread = on;
}

async function nextRecordAsync(errRead: number): Promise<PipeRecord | undefined> {
  const rec = new Uint8Array(16);
  let got = 0;
  while (got < rec.length) {
    const at = rec.subarray(got);
    const n = await sysAsync("read", "error pipe", errRead, addressOf(at), at.length);
    if (n === 0) break;
    got += n;
  }
  return record(rec, got);
}

/**
 * Clones a child that runs `plan`; `onSync` runs at each sync point (phase 0
 * right after clone, before the child does anything). Resolves once the child
 * has exec'd (or ended its plan); a failed step rejects with PlanError after
 * the child is reaped. A plan with a `handover` goes on in a sibling of the
 * child from its handover phase: the pid given to `onSync` from then on, and
 * the one returned, are the sibling's.
 */
export async function spawn(
  plan: Plan,
  onSync: SyncHandler = () => {},
  opts: { returnAt?: number; cgroup?: CloneInto } = {},
): Promise<Spawned> {
  const p = prepare(plan);
  const { arena, fds } = p;
  let pid = -1;
  let pidfd = -1;
  let released = false;
  let keepArena = false;
  try {
    const pidfdAt = p.ctx + BigInt(CTX.pidfd);
    const cloneArgsAt = p.ctx + BigInt(CTX.cloneArgs);
    trace("spawn: encoded");
    let joined = false;
    if (opts.cgroup && clone3Works !== false) {
      // struct clone_args up to .cgroup: flags, pidfd, child_tid, parent_tid,
      // exit_signal, stack (lowest address), stack_size, tls, set_tid,
      // set_tid_size, cgroup.
      const args = arena.u64s([
        BigInt(p.flags >>> 0) | CLONE3.INTO_CGROUP,
        pidfdAt,
        0,
        0,
        SIGCHLD,
        p.childStack - BigInt(CHILD_STACK),
        CHILD_STACK,
        0,
        0,
        0,
        opts.cgroup.fd,
      ]);
      arena.writeU64(cloneArgsAt, args);
      pid = rawSpawn(p.ctx);
      // ENOSYS: no clone3 (before 5.3); E2BIG or EINVAL: no CLONE_INTO_CGROUP
      // (before 5.7). Anything else is the cgroup's answer.
      clone3Works = ![errno("ENOSYS"), errno("E2BIG"), errno("EINVAL")].includes(-pid);
      if (!clone3Works) arena.writeU64(cloneArgsAt, 0n);
      else if (pid < 0) {
        throw new SyscallError(
          "clone3",
          -pid,
          `${cloneFlagNames(plan.cloneFlags)} CLONE_INTO_CGROUP ${opts.cgroup.path}`,
        );
      } else joined = true;
    }
    if (!joined) pid = rawSpawn(p.ctx);
    trace("spawn: cloned");
    pidfd = cloned(p, plan, pid);
    if (opts.cgroup && !joined) opts.cgroup.join(pid);
    let waiting = waitingChild(p, pidfd);
    await onSync(0, pid, waiting);
    release(fds.syncWrite);
    const next = readOffThread ? nextRecordAsync : (fd: number) => Promise.resolve(nextRecord(fd));
    for (let r = await next(fds.errRead); r; r = await next(fds.errRead)) {
      if (r.index === SYNC_INDEX) {
        if (plan.handover && r.value === plan.handover.phase) {
          // The first child forked the sibling that goes on with the plan, and exits.
          await waitPidfd(pidfd);
          close(pidfd);
          pidfd = -1;
          pid = Number(arena.readU64(p.slots.get(plan.handover.slot)!) & 0xffffffffn);
          pidfd = sys("pidfd_open", `pid ${pid}`, pid, 0);
          waiting = { ...waiting, pidfd };
        }
        await onSync(r.value, pid, waiting);
        release(fds.syncWrite);
        if (r.value === opts.returnAt) {
          // The child goes on alone (an OCI container waiting for `start`):
          // its plan and stack stay mapped for as long as this process lives.
          keepArena = true;
          break;
        }
        continue;
      }
      const i = Number(r.index);
      // The step's process exits by itself; a plan that forked may leave the
      // other one waiting on the sync pipe (a container's watcher-to-be).
      sysRawKill(pidfd);
      await waitPidfd(pidfd);
      throw new PlanError(plan.steps[i], i, -r.value);
    }
    released = true;
    return { pid, pidfd, slots: savedSlots(p) };
  } catch (e) {
    if (pidfd >= 0 && !released) {
      sysRawKill(pidfd);
      await waitPidfd(pidfd).catch(() => {});
      close(pidfd);
    }
    throw e;
  } finally {
    for (const fd of Object.values(fds)) if (fd >= 0) close(fd);
    // The child has exec'd or is gone: nothing reads this memory any more.
    if (!keepArena) arena.free();
  }
}

/**
 * spawn() without an event loop, for a short helper process whose plan has
 * one sync point, phase 0 (a process in a user namespace made for it, whose
 * maps `atStart` writes): returns once it has exec'd. Synchronous, so that
 * synchronous callers (deleting a tree) can use such a helper.
 */
export function spawnSync(plan: Plan, atStart: (pid: number) => void): Spawned {
  const p = prepare(plan);
  let pidfd = -1;
  try {
    const pid = rawSpawn(p.ctx);
    pidfd = cloned(p, plan, pid);
    atStart(pid);
    release(p.fds.syncWrite);
    const r = nextRecord(p.fds.errRead);
    if (r) {
      if (r.index === SYNC_INDEX) throw new Error(`spawnSync: unexpected sync phase ${r.value}`);
      const i = Number(r.index);
      throw new PlanError(plan.steps[i], i, -r.value);
    }
    const out = { pid, pidfd, slots: savedSlots(p) };
    pidfd = -1;
    return out;
  } finally {
    if (pidfd >= 0) {
      sysRawKill(pidfd);
      waitPidfdSync(pidfd);
      close(pidfd);
    }
    for (const fd of Object.values(p.fds)) if (fd >= 0) close(fd);
    p.arena.free();
  }
}

/** Lets the child go on; EPIPE means it already ended, which the error pipe then reports. */
function release(syncWrite: number): void {
  try {
    writeAll(syncWrite, new Uint8Array([1]), "sync pipe");
  } catch (e) {
    if (!(e instanceof SyscallError && e.code === "EPIPE")) throw e;
  }
}

/**
 * Reads one record from the error pipe, blocking: the child's setup takes a
 * few milliseconds and a worker-thread round trip per record costs more.
 */
function readFull(fd: number, buf: Uint8Array): number {
  let got = 0;
  while (got < buf.length) {
    let n: number;
    try {
      n = readSync(fd, buf.subarray(got), "error pipe");
    } catch (e) {
      if (e instanceof SyscallError && e.code === "EINTR") continue;
      throw e;
    }
    if (n === 0) break;
    got += n;
  }
  return got;
}

function sysRawKill(pidfd: number): void {
  try {
    sys("pidfd_send_signal", "child", pidfd, SIGNALS.SIGKILL, 0, 0);
  } catch { /* already gone */ }
}

/** Waits for the process behind a pidfd to end; returns how it ended. */
export async function waitPidfd(pidfd: number): Promise<ExitStatus> {
  const info = new Uint8Array(128);
  await sysAsync("waitid", `pidfd ${pidfd}`, P.PIDFD, pidfd, addressOf(info), W.EXITED, 0);
  return decodeSiginfo(info);
}

/** waitPidfd(), blocking this thread: for a helper that ends quickly. */
export function waitPidfdSync(pidfd: number): ExitStatus {
  const info = new Uint8Array(128);
  for (;;) {
    try {
      sys("waitid", `pidfd ${pidfd}`, P.PIDFD, pidfd, addressOf(info), W.EXITED, 0);
      return decodeSiginfo(info);
    } catch (e) {
      if (!(e instanceof SyscallError && e.code === "EINTR")) throw e;
    }
  }
}

/** Reaps a child by pid (one that has no pidfd of ours). */
export async function waitPid(pid: number): Promise<ExitStatus> {
  const info = new Uint8Array(128);
  await sysAsync("waitid", `pid ${pid}`, P.PID, pid, addressOf(info), W.EXITED, 0);
  return decodeSiginfo(info);
}

function decodeSiginfo(info: Uint8Array): ExitStatus {
  const dv = new DataView(info.buffer);
  const code = dv.getInt32(8, true);
  const status = dv.getInt32(24, true);
  if (code === 1) return { code: status }; // CLD_EXITED
  return { code: 128 + status, signal: status };
}

/** Sends a signal through a pidfd. */
export function signalPidfd(pidfd: number, signal: number): void {
  sys("pidfd_send_signal", "container", pidfd, signal, 0, 0);
}

/** The number of the raw syscall, re-exported for callers that build plans. */
export { sysno };

/** The signals ctr passes on to a container it waits for (and an attached client to its container). */
export const FORWARDED: readonly Deno.Signal[] = [
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGTERM",
  "SIGUSR1",
  "SIGUSR2",
  "SIGALRM",
  "SIGCONT",
];

/** The signals `enter` and `exec` pass on to their command. */
export const FORWARDED_SHORT: readonly Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];

/**
 * Passes the signals ctr receives on to the process behind `pidfd`; returns
 * the function that stops it. A signal Deno cannot catch here is skipped.
 */
export function forwardSignals(pidfd: number, signals: readonly Deno.Signal[]): () => void {
  const listeners: [Deno.Signal, () => void][] = [];
  for (const sig of signals) {
    const fn = () => {
      try {
        signalPidfd(pidfd, SIGNALS[sig]);
      } catch { /* it is gone */ }
    };
    try {
      Deno.addSignalListener(sig, fn);
      listeners.push([sig, fn]);
    } catch { /* not a signal this platform lets us catch */ }
  }
  return () => {
    for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
  };
}

/** Waits for the process behind `pidfd` (then closed), passing signals on; returns its exit code. */
export async function waitForwarding(
  pidfd: number,
  signals: readonly Deno.Signal[] = FORWARDED_SHORT,
): Promise<number> {
  const stop = forwardSignals(pidfd, signals);
  try {
    return (await waitPidfd(pidfd)).code;
  } finally {
    stop();
    close(pidfd);
  }
}
