/**
 * The child plan: everything a container's first process does between clone()
 * and execve(), as data. The parent builds it in TypeScript, validates it,
 * can print it strace-style (`--dry-run`), and the native stub executes it.
 * @module
 */

import { errno as errnoValue, errnoName, errnoText } from "../../ffi/errno.ts";
import type { SyscallName } from "../../ffi/syscalls.ts";

/** A named 64-bit cell in C memory: a step can save its result there and later steps read it. */
export interface Slot {
  readonly name: string;
}

/** File descriptors the executor creates per spawn, referred to by role. */
export type PipeFd = "syncRead" | "syncWrite" | "errRead" | "errWrite" | "devNull";

/**
 * A pointer inside a `bytes` argument: the executor copies `to` into C memory
 * too and writes its address, 64 bits, at byte `at` of the struct (a struct
 * that points at a buffer, such as struct sock_fprog or struct iovec).
 */
export interface EmbeddedPointer {
  /** Byte offset of the pointer field in the struct. */
  readonly at: number;
  /** The bytes it points to. */
  readonly to: Uint8Array;
}

/** One argument of a step. */
export type Arg =
  | { readonly int: number | bigint; readonly show?: string | (() => string) }
  | { readonly str: string }
  | { readonly strv: readonly string[] }
  | {
    readonly bytes: Uint8Array;
    readonly show: string;
    readonly pointers?: readonly EmbeddedPointer[];
  }
  | { readonly ref: Slot } // the value saved in the slot, loaded at run time
  | { readonly slotAddr: Slot } // the address of the slot itself
  | { readonly fd: PipeFd }
  | { readonly stack: true }; // top of a second stack (for a CLONE_VM fork)

/** One system call of the plan. */
export interface Step {
  /** The system call. */
  readonly call: SyscallName;
  /** Up to six arguments. */
  readonly args: readonly Arg[];
  /** What this step does, in words, for errors and --dry-run. */
  readonly label: string;
  /** errno names that count as success (at most two). */
  readonly tolerate?: readonly string[];
  /** Saves the result in this slot. */
  readonly save?: Slot;
  /** A fork: the parent side (result > 0) exits 0, the child side goes on. */
  readonly fork?: boolean;
  /**
   * With `fork`: the parent side goes on this many steps further (at its own
   * steps after the child's) instead of exiting.
   */
  readonly parentJump?: number;
  /** A result of 0 is a failure (EOF on the sync pipe). */
  readonly expect?: boolean;
  /** Why a failure happened, when it fails with this errno (name → hint). */
  readonly hints?: Readonly<Record<string, string>>;
}

/** A whole plan: how to clone, and what the child does. */
export interface Plan {
  /** Namespace and other clone flags (CLONE_VM, CLONE_PIDFD and SIGCHLD are added). */
  readonly cloneFlags: number;
  /** The steps, in order. */
  readonly steps: readonly Step[];
  /**
   * The plan goes on in another process: the cloned child forks a sibling
   * (see `forkAndHandOver` in steps.ts), which writes its pid into `slot`
   * (CLONE_PARENT_SETTID) and reports sync phase `phase` first thing. From
   * that phase on the executor serves, reports and returns the sibling.
   */
  readonly handover?: { readonly phase: number; readonly slot: Slot };
  /** The sync phase at which the child's new user namespace wants its id maps (default 0). */
  readonly idMapPhase?: number;
}

/** Creates a slot. */
export function slot(name: string): Slot {
  return { name };
}

/** An integer argument, optionally shown symbolically (a function: computed only when printed). */
export function int(v: number | bigint, show?: string | (() => string)): Arg {
  return { int: v, show };
}

/** A string argument. */
export function str(s: string): Arg {
  return { str: s };
}

/** The NULL pointer. */
export const NULL: Arg = { int: 0, show: "NULL" };

/** Marks the stub-level sync record: {index = SYNC_INDEX, value = phase}. */
export const SYNC_INDEX = 0xffffffffffffffffn;

/**
 * A sync point: tell the parent that phase `phase` is reached, then wait until
 * it answers (one byte). EOF means the parent is gone: the child stops.
 */
export function syncPoint(phase: number, why: string): Step[] {
  const rec = new Uint8Array(16);
  const dv = new DataView(rec.buffer);
  dv.setBigUint64(0, SYNC_INDEX, true);
  dv.setBigInt64(8, BigInt(phase), true);
  const steps: Step[] = [];
  if (phase > 0) {
    steps.push({
      call: "write",
      args: [{ fd: "errWrite" }, { bytes: rec, show: `{sync, ${phase}}` }, int(16)],
      label: `tell the parent: ${why}`,
    });
  }
  steps.push({
    call: "read",
    args: [{ fd: "syncRead" }, { bytes: new Uint8Array(8), show: "buf" }, int(1)],
    label: `wait for the parent: ${why}`,
    expect: true,
  });
  return steps;
}

/** Problems found by validate(), one line each. */
export function validate(plan: Plan): string[] {
  const problems: string[] = [];
  const saved = new Set<Slot>();
  plan.steps.forEach((s, i) => {
    const where = `step ${i} (${s.label})`;
    if (s.args.length > 6) problems.push(`${where}: ${s.args.length} arguments, at most 6`);
    if ((s.tolerate?.length ?? 0) > 2) problems.push(`${where}: at most two tolerated errnos`);
    for (const t of s.tolerate ?? []) {
      try {
        errnoValue(t);
      } catch {
        problems.push(`${where}: unknown errno ${t}`);
      }
    }
    if (s.fork && s.expect) problems.push(`${where}: fork and expect exclude each other`);
    if (s.parentJump !== undefined) {
      if (!s.fork) problems.push(`${where}: a parent jump needs a fork`);
      else if (!(s.parentJump > 0 && i + s.parentJump < plan.steps.length)) {
        problems.push(`${where}: the parent jumps to step ${i + s.parentJump}, outside the plan`);
      }
    }
    for (const a of s.args) {
      if ("ref" in a && !saved.has(a.ref)) {
        problems.push(`${where}: reads slot ${a.ref.name} before any step saves it`);
      }
      if ("str" in a && a.str.includes("\0")) problems.push(`${where}: string with a NUL byte`);
      if ("strv" in a && a.strv.some((x) => x.includes("\0"))) {
        problems.push(`${where}: vector with a NUL byte`);
      }
      if ("bytes" in a) {
        for (const p of a.pointers ?? []) {
          if (!Number.isInteger(p.at) || p.at < 0 || p.at + 8 > a.bytes.length) {
            problems.push(
              `${where}: pointer at byte ${p.at} outside the ${a.bytes.length}-byte struct`,
            );
          }
        }
      }
    }
    if (s.save) saved.add(s.save);
  });
  const last = plan.steps.at(-1);
  if (last && !["execve", "execveat", "exit_group"].includes(last.call)) {
    problems.push(`the plan ends with ${last.call}, not execve, execveat or exit_group`);
  }
  return problems;
}

function showArg(a: Arg): string {
  if ("int" in a) return (typeof a.show === "function" ? a.show() : a.show) ?? String(a.int);
  if ("str" in a) return JSON.stringify(a.str);
  if ("strv" in a) {
    const shown = a.strv.slice(0, 8).map((s) => JSON.stringify(s));
    if (a.strv.length > 8) shown.push(`... ${a.strv.length - 8} more`);
    return `[${shown.join(", ")}]`;
  }
  if ("bytes" in a) return a.show;
  if ("ref" in a) return `$${a.ref.name}`;
  if ("slotAddr" in a) return `&$${a.slotAddr.name}`;
  if ("fd" in a) return a.fd;
  return "stack";
}

/** One step, strace-style: `mount("proc", "/x/proc", "proc", MS_NOSUID, NULL)`. */
export function formatStep(s: Step): string {
  let line = `${s.call}(${s.args.map(showArg).join(", ")})`;
  if (s.save) line += ` -> $${s.save.name}`;
  const notes: string[] = [];
  if (s.tolerate?.length) notes.push(`ok: ${s.tolerate.join(",")}`);
  if (s.fork) {
    notes.push(s.parentJump ? `parent side goes on at +${s.parentJump}` : "parent side exits");
  }
  if (s.expect) notes.push("0 fails");
  return `${line.padEnd(72)} # ${s.label}${notes.length ? ` [${notes.join("; ")}]` : ""}`;
}

/** The whole plan, one numbered line per step. */
export function formatPlan(plan: Plan, cloneShow: string): string {
  const lines = [`clone(${cloneShow})`];
  plan.steps.forEach((s, i) => lines.push(`${String(i).padStart(3)}  ${formatStep(s)}`));
  return lines.join("\n");
}

/** The errno names a step tolerates, as numbers. */
export function toleratedErrnos(s: Step): [number, number] {
  const t = (s.tolerate ?? []).map(errnoValue);
  return [t[0] ?? 0, t[1] ?? 0];
}

/** A step that failed in the child, with its errno (0: the parent went away). */
export class PlanError extends Error {
  /** The failed step. */
  readonly step: Step;
  /** Its index in the plan. */
  readonly index: number;
  /** The errno (0 when the sync pipe hit EOF). */
  readonly errno: number;

  constructor(step: Step, index: number, errno: number) {
    const code = errno ? errnoName(errno) : "EOF";
    const hint = errno ? step.hints?.[code] : undefined;
    const why = errno ? `${code} (${errnoText(errno)})` : "EOF (the parent went away)";
    super(`${step.label}: ${step.call}: ${why}${hint ? `: ${hint}` : ""}`);
    this.name = "PlanError";
    this.step = step;
    this.index = index;
    this.errno = errno;
  }
}
