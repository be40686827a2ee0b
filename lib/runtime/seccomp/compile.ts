/**
 * The seccomp filter compiler: an OciSeccomp becomes one classic BPF
 * program for seccomp(SECCOMP_SET_MODE_FILTER).
 *
 * Layout, per ABI the filter covers (native first):
 *
 *     ld arch; jeq AUDIT_ARCH_X86_64 → x86_64; jeq AUDIT_ARCH_I386 → i386; ret BAD_ARCH
 *     x86_64: ld nr; [x32 not covered: nr ≥ 0x40000000 → -1 ? default : BAD_ARCH]
 *             a binary search on nr over ranges of numbers with one outcome
 *             (JGE K); a leaf is a shared RET or a syscall's argument block
 *     blocks: each rule's conditions in order, the first whose conditions all
 *             hold gives its action; none does: the default action
 *     rets:   one RET per distinct answer, shared by every leaf and block
 *
 * Semantics (libseccomp's, as runc and crun use it, checked against its
 * db.c):
 * - An ABI the filter does not cover gets the bad-arch action,
 *   KILL_THREAD: libseccomp's SCMP_FLTATR_ACT_BADARCH default, which runc
 *   and crun keep. The native ABI is always covered; `architectures` adds
 *   the ones the host can also run (x86_64: x86, x32; aarch64: arm).
 * - x32 shares AUDIT_ARCH_X86_64; its numbers carry 0x40000000. When x32 is
 *   not covered, such a number gets the bad-arch action before any x86_64
 *   rule is looked at (nr -1, which a tracer uses to skip a call, gets the
 *   default), so an x32 call can never slip through an x86_64 allow rule.
 * - A rule whose action (with its errno) is the default's is dropped, as
 *   runc drops it (libseccomp refuses it).
 * - A rule without conditions decides its call on its own: it makes every
 *   conditional rule for that call redundant (libseccomp's union), and
 *   between two of them the first stays. Conditional rules are tried in
 *   profile order and the first that matches wins; none matching gives the
 *   default. (libseccomp merges overlapping conditional rules with different
 *   actions into a tree or refuses them; first-match is the plain reading.)
 * - The conditions of one rule are ANDed, also when two test the same
 *   argument (runc splits those into separate, ORed rules).
 * - On 64-bit ABIs an argument is compared as a 64-bit value, high word
 *   first; on 32-bit ABIs (i386, arm, x32) only the low word, against the
 *   low 32 bits of the profile's values, as libseccomp does.
 * - SCMP_CMP_MASKED_EQ is (arg & value) == valueTwo.
 * - A name an ABI lacks is skipped for that ABI and listed in `skipped`.
 * @module
 */

import {
  AUDIT_ARCH,
  BPF,
  BPF_MAXINSNS,
  encodeFilter,
  SECCOMP_DATA,
  SECCOMP_FILTER_FLAG,
  SECCOMP_RET,
  X32_SYSCALL_BIT,
} from "../../../ffi/seccomp.ts";
import type { Arch } from "../../../ffi/syscalls.ts";
import { AARCH64 } from "../../../ffi/syscall_table/aarch64.ts";
import { ARM } from "../../../ffi/syscall_table/arm.ts";
import { I386 } from "../../../ffi/syscall_table/i386.ts";
import { X32 } from "../../../ffi/syscall_table/x32.ts";
import { X86_64 } from "../../../ffi/syscall_table/x86_64.ts";
import { Asm, type Label } from "./asm.ts";
import type {
  OciSeccomp,
  OciSeccompArg,
  OciSyscall,
  SeccompAction,
  SeccompArch,
  SeccompFlag,
} from "./profile.ts";

/** An ABI ctr has a syscall table for. */
export type Abi = "x86_64" | "i386" | "x32" | "aarch64" | "arm";

interface AbiInfo {
  readonly table: Readonly<Record<string, number>>;
  readonly audit: number;
  /** Arguments are compared as 64-bit values. */
  readonly wide: boolean;
}

const ABIS: Record<Abi, AbiInfo> = {
  x86_64: { table: X86_64, audit: AUDIT_ARCH.X86_64, wide: true },
  i386: { table: I386, audit: AUDIT_ARCH.I386, wide: false },
  x32: { table: X32, audit: AUDIT_ARCH.X86_64, wide: false },
  aarch64: { table: AARCH64, audit: AUDIT_ARCH.AARCH64, wide: true },
  arm: { table: ARM, audit: AUDIT_ARCH.ARM, wide: false },
};

/** The syscall table of an ABI (name → the number seccomp_data.nr holds). */
export function syscallTable(abi: Abi): Readonly<Record<string, number>> {
  return ABIS[abi].table;
}

/** What seccomp_data.arch holds for a call of this ABI (AUDIT_ARCH_*; x32 shares x86_64's). */
export function auditArch(abi: Abi): number {
  return ABIS[abi].audit;
}

/** The libseccomp architectures ctr compiles for, and which native ABI can run each. */
const SCMP_ABI: Partial<Record<SeccompArch, { abi: Abi; native: Arch }>> = {
  SCMP_ARCH_X86_64: { abi: "x86_64", native: "x86_64" },
  SCMP_ARCH_X86: { abi: "i386", native: "x86_64" },
  SCMP_ARCH_X32: { abi: "x32", native: "x86_64" },
  SCMP_ARCH_AARCH64: { abi: "aarch64", native: "aarch64" },
  SCMP_ARCH_ARM: { abi: "arm", native: "aarch64" },
};

/** The name /proc/sys/kernel/seccomp/actions_avail gives each action. */
const KERNEL_ACTION: Record<SeccompAction, string> = {
  SCMP_ACT_KILL: "kill_thread",
  SCMP_ACT_KILL_THREAD: "kill_thread",
  SCMP_ACT_KILL_PROCESS: "kill_process",
  SCMP_ACT_TRAP: "trap",
  SCMP_ACT_ERRNO: "errno",
  SCMP_ACT_TRACE: "trace",
  SCMP_ACT_LOG: "log",
  SCMP_ACT_ALLOW: "allow",
  SCMP_ACT_NOTIFY: "user_notif",
};

const FLAG_BITS: Record<SeccompFlag, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 0, // recognised and ignored, as runc: the child is one thread
  SECCOMP_FILTER_FLAG_LOG: SECCOMP_FILTER_FLAG.LOG,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: SECCOMP_FILTER_FLAG.SPEC_ALLOW,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: SECCOMP_FILTER_FLAG.WAIT_KILLABLE_RECV,
  SECCOMP_FILTER_FLAG_NEW_LISTENER: SECCOMP_FILTER_FLAG.NEW_LISTENER,
};

const EPERM = 1;

/** How to compile. */
export interface CompileOptions {
  /** The native architecture the container runs on. */
  readonly arch: Arch;
  /**
   * The actions this kernel supports (/proc/sys/kernel/seccomp/actions_avail,
   * split on spaces); a profile that uses another is refused. Absent: not checked.
   */
  readonly kernelActions?: readonly string[];
  /** What an ABI the filter does not cover gets (default SCMP_ACT_KILL_THREAD, as libseccomp). */
  readonly badArchAction?: SeccompAction;
}

/** A compiled filter, ready for seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog). */
export interface CompiledFilter {
  /** struct sock_filter[], 8 bytes each, little endian. */
  readonly program: Uint8Array;
  /** Its length in instructions. */
  readonly instructions: number;
  /** SECCOMP_FILTER_FLAG_* bits for seccomp(2). */
  readonly flags: number;
  /** Whether the filter has SCMP_ACT_NOTIFY rules (NEW_LISTENER is in flags: seccomp returns a listener fd). */
  readonly notify: boolean;
  /** The ABIs the filter covers, native first. */
  readonly abis: readonly Abi[];
  /** What was left out: "name (abi, ...)" for calls an ABI lacks, and architectures ctr cannot cover. */
  readonly skipped: readonly string[];
}

/** A profile the compiler cannot turn into a filter. */
export class SeccompCompileError extends Error {
  constructor(what: string) {
    super(`Cannot compile the seccomp profile: ${what}`);
    this.name = "SeccompCompileError";
  }
}

/** The 32-bit answer of an action (errno: the rule's, else EPERM). */
export function actionValue(action: SeccompAction, errnoRet?: number): number {
  const data = (errnoRet ?? EPERM) & SECCOMP_RET.DATA;
  switch (action) {
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return SECCOMP_RET.KILL_THREAD;
    case "SCMP_ACT_KILL_PROCESS":
      return SECCOMP_RET.KILL_PROCESS;
    case "SCMP_ACT_TRAP":
      return SECCOMP_RET.TRAP;
    case "SCMP_ACT_ERRNO":
      return (SECCOMP_RET.ERRNO | data) >>> 0;
    case "SCMP_ACT_TRACE":
      return (SECCOMP_RET.TRACE | data) >>> 0;
    case "SCMP_ACT_LOG":
      return SECCOMP_RET.LOG;
    case "SCMP_ACT_ALLOW":
      return SECCOMP_RET.ALLOW;
    case "SCMP_ACT_NOTIFY":
      return SECCOMP_RET.USER_NOTIF;
  }
}

/** A conditional rule, resolved for one ABI. */
interface CondRule {
  readonly args: readonly OciSeccompArg[];
  readonly ret: number;
}

/** What one syscall number gets: a plain answer, or rules to try (then the default). */
type Outcome = { readonly ret: number } | { readonly rules: CondRule[] };

/**
 * Compiles `profile` for a container on `opts.arch`. Pure; the default
 * profile takes about 0.4 ms warm for x86_64's three ABIs, and the first
 * call in a process several ms more while V8 compiles this code (see
 * scripts/bench_seccomp_compile.ts). Throws SeccompCompileError for what
 * the kernel would refuse.
 */
export function compileFilter(profile: OciSeccomp, opts: CompileOptions): CompiledFilter {
  const skipped: string[] = [];
  const abis = coveredAbis(profile.architectures ?? [], opts.arch, skipped);
  const defaultRet = actionValue(profile.defaultAction, profile.defaultErrnoRet);
  const badArch = actionValue(opts.badArchAction ?? "SCMP_ACT_KILL_THREAD");

  const used = new Set<SeccompAction>([profile.defaultAction]);
  if (opts.badArchAction) used.add(opts.badArchAction);
  const rules = (profile.syscalls ?? []).filter((r) => {
    used.add(r.action);
    return actionValue(r.action, r.errnoRet) !== defaultRet;
  });
  if (opts.kernelActions) {
    for (const a of used) {
      if (!opts.kernelActions.includes(KERNEL_ACTION[a])) {
        throw new SeccompCompileError(
          `${a} needs the seccomp action ${KERNEL_ACTION[a]}, which this kernel lacks ` +
            `(it has: ${opts.kernelActions.join(" ")})`,
        );
      }
    }
  }

  const missing = new Map<string, Abi[]>();
  const outcomes = abis.map((abi) => outcomesFor(abi, rules, missing));
  for (const [name, list] of missing) skipped.push(`${name} (${list.join(", ")})`);

  const a = new Asm();
  const entries = abis.map(() => a.label());
  const rets = new RetPool(a);
  a.stmt(BPF.LD | BPF.W | BPF.ABS, SECCOMP_DATA.ARCH);
  // x32 shares x86_64's token: one entry for both, its dispatch holds both tables.
  const tokens = new Map<number, Label>();
  abis.forEach((abi, i) => {
    if (!tokens.has(ABIS[abi].audit)) tokens.set(ABIS[abi].audit, entries[i]);
  });
  for (const [token, entry] of tokens) {
    const next = a.label();
    a.jump(BPF.JMP | BPF.JEQ | BPF.K, token, entry, next);
    a.bind(next);
  }
  a.stmt(BPF.RET | BPF.K, badArch);

  abis.forEach((abi, i) => {
    if (abi === "x32") return; // dispatched with x86_64
    a.bind(entries[i]);
    a.stmt(BPF.LD | BPF.W | BPF.ABS, SECCOMP_DATA.NR);
    let map = outcomes[i];
    if (abi === "x86_64") {
      const x32 = abis.indexOf("x32");
      if (x32 >= 0) map = new Map([...map, ...outcomes[x32]]);
      else {
        const tree = a.label(), notX32 = a.label();
        a.jump(BPF.JMP | BPF.JGE | BPF.K, X32_SYSCALL_BIT, notX32, tree);
        a.bind(notX32);
        a.jump(BPF.JMP | BPF.JEQ | BPF.K, 0xffffffff, rets.get(defaultRet), rets.get(badArch));
        a.bind(tree);
      }
    }
    emitDispatch(a, map, { defaultRet, wide: ABIS[abi].wide, rets });
    rets.flush();
  });

  const insns = a.assemble();
  if (insns.length > BPF_MAXINSNS) {
    throw new SeccompCompileError(
      `the filter needs ${insns.length} instructions, the kernel takes at most ${BPF_MAXINSNS}`,
    );
  }
  let flags = 0;
  for (const f of profile.flags ?? ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]) flags |= FLAG_BITS[f];
  if (rules.some((r) => r.action === "SCMP_ACT_NOTIFY")) flags |= SECCOMP_FILTER_FLAG.NEW_LISTENER;
  return {
    program: encodeFilter(insns),
    instructions: insns.length,
    flags,
    notify: (flags & SECCOMP_FILTER_FLAG.NEW_LISTENER) !== 0,
    abis,
    skipped,
  };
}

/** The native ABI, then the listed ones this host can run; the rest go to `skipped`. */
function coveredAbis(listed: readonly SeccompArch[], arch: Arch, skipped: string[]): Abi[] {
  const abis: Abi[] = [arch];
  for (const name of listed) {
    const m = SCMP_ABI[name];
    if (!m) skipped.push(`${name} (no syscall table)`);
    else if (m.native !== arch) skipped.push(`${name} (cannot run on ${arch})`);
    else if (!abis.includes(m.abi)) abis.push(m.abi);
  }
  return abis;
}

/** Each number with rules on `abi`, and what it gets. */
function outcomesFor(
  abi: Abi,
  rules: readonly OciSyscall[],
  missing: Map<string, Abi[]>,
): Map<number, Outcome> {
  const table = ABIS[abi].table;
  const plain = new Map<number, number>();
  const cond = new Map<number, CondRule[]>();
  // Indexed loops: this runs once per container start, mostly before the JIT
  // has compiled it, where for-of costs an iterator object per element.
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    const ret = actionValue(r.action, r.errnoRet);
    const conditional = (r.args?.length ?? 0) > 0;
    for (let j = 0; j < r.names.length; j++) {
      const name = r.names[j];
      const nr = Object.hasOwn(table, name) ? table[name] : undefined;
      if (nr === undefined) {
        const list = missing.get(name);
        if (!list) missing.set(name, [abi]);
        else if (!list.includes(abi)) list.push(abi);
        continue;
      }
      if (conditional) {
        const list = cond.get(nr);
        if (list) list.push({ args: r.args!, ret });
        else cond.set(nr, [{ args: r.args!, ret }]);
      } else if (!plain.has(nr)) plain.set(nr, ret);
    }
  }
  const out = new Map<number, Outcome>();
  for (const [nr, list] of cond) if (!plain.has(nr)) out.set(nr, { rules: list });
  for (const [nr, ret] of plain) out.set(nr, { ret });
  return out;
}

/** RET instructions, one per distinct answer, emitted together after the code that jumps to them. */
class RetPool {
  #labels = new Map<number, Label>();
  constructor(private readonly a: Asm) {}

  get(ret: number): Label {
    let l = this.#labels.get(ret);
    if (!l) this.#labels.set(ret, l = this.a.label());
    return l;
  }

  flush(): void {
    for (const [ret, l] of this.#labels) {
      this.a.bind(l);
      this.a.stmt(BPF.RET | BPF.K, ret);
    }
    this.#labels.clear();
  }
}

interface DispatchContext {
  readonly defaultRet: number;
  readonly wide: boolean;
  readonly rets: RetPool;
}

/**
 * The binary search on nr (in A): the number line cut into ranges with one
 * outcome each, a JGE per cut, then the argument blocks (shared between
 * numbers with identical rules).
 */
function emitDispatch(a: Asm, map: Map<number, Outcome>, cx: DispatchContext): void {
  const blocks = new Map<number | string, { label: Label; rules: CondRule[] }>();
  // A plain answer's key is the answer itself; a block's, its rules as text.
  const keyOf = (o: Outcome | undefined): number | string => {
    if (!o) return cx.defaultRet;
    if ("ret" in o) return o.ret;
    return "b" +
      o.rules.map((r) =>
        `${r.ret}:` + r.args.map((c) => `${c.index},${c.op},${c.value},${c.valueTwo}`).join(";")
      ).join("|");
  };
  const target = (o: Outcome | undefined): Label => {
    if (!o) return cx.rets.get(cx.defaultRet);
    if ("ret" in o) return cx.rets.get(o.ret);
    const key = keyOf(o);
    let b = blocks.get(key);
    if (!b) blocks.set(key, b = { label: a.label(), rules: o.rules });
    return b.label;
  };

  // Ranges [lo, next lo) with one outcome each; neighbours with the same outcome merge.
  const ranges: { lo: number; out: Outcome | undefined; key: number | string }[] = [];
  const push = (lo: number, out: Outcome | undefined) => {
    const key = keyOf(out);
    if (ranges.at(-1)?.lo === lo) ranges.pop(); // an empty range: the number starts the next
    if (ranges.at(-1)?.key === key) return;
    ranges.push({ lo, out, key });
  };
  push(0, undefined);
  const nrs = Array.from(map.keys()).sort((x, y) => x - y);
  for (let i = 0; i < nrs.length; i++) {
    const nr = nrs[i];
    push(nr, map.get(nr));
    if (nr < 0xffffffff && !map.has(nr + 1)) push(nr + 1, undefined);
  }

  // A subtree is a leaf's shared target, or a JGE node with its own label.
  const labelFor = (i: number, j: number): Label => i === j ? target(ranges[i].out) : a.label();
  const emitNode = (i: number, j: number, here: Label): void => {
    a.bind(here);
    const mid = (i + j + 1) >> 1;
    const left = labelFor(i, mid - 1), right = labelFor(mid, j);
    a.jump(JGE, ranges[mid].lo, right, left);
    if (i < mid - 1) emitNode(i, mid - 1, left);
    if (mid < j) emitNode(mid, j, right);
  };
  if (ranges.length === 1) a.goto(target(ranges[0].out));
  else emitNode(0, ranges.length - 1, a.label());

  for (const b of blocks.values()) {
    a.bind(b.label);
    emitRules(a, b.rules, cx);
  }
}

/** A syscall's conditional rules in order; the first that matches answers, else the default. */
function emitRules(a: Asm, rules: readonly CondRule[], cx: DispatchContext): void {
  rules.forEach((r, i) => {
    const fail = i === rules.length - 1 ? cx.rets.get(cx.defaultRet) : a.label();
    const pass = cx.rets.get(r.ret);
    r.args.forEach((c, j) => {
      const next = j === r.args.length - 1 ? pass : a.label();
      emitCondition(a, c, { pass: next, fail, wide: cx.wide });
      if (next !== pass) a.bind(next);
    });
    if (i < rules.length - 1) a.bind(fail);
  });
}

const LD_ABS = BPF.LD | BPF.W | BPF.ABS;
const JEQ = BPF.JMP | BPF.JEQ | BPF.K;
const JGT = BPF.JMP | BPF.JGT | BPF.K;
const JGE = BPF.JMP | BPF.JGE | BPF.K;
const AND = BPF.ALU | BPF.AND | BPF.K;

/**
 * One comparison of args[index] with the profile's value. 64-bit unsigned
 * order compares the high words first: a difference there decides; equal
 * high words leave it to the low words.
 */
function emitCondition(
  a: Asm,
  c: OciSeccompArg,
  to: { pass: Label; fail: Label; wide: boolean },
): void {
  const lo = SECCOMP_DATA.ARGS + 8 * c.index, hi = lo + 4;
  const vlo = Number(c.value & 0xffffffffn), vhi = Number((c.value >> 32n) & 0xffffffffn);
  const { pass, fail, wide } = to;
  const low = a.label();
  switch (c.op) {
    case "SCMP_CMP_EQ":
    case "SCMP_CMP_NE": {
      const [eq, ne] = c.op === "SCMP_CMP_EQ" ? [pass, fail] : [fail, pass];
      if (wide) {
        a.stmt(LD_ABS, hi);
        a.jump(JEQ, vhi, low, ne);
        a.bind(low);
      }
      a.stmt(LD_ABS, lo);
      a.jump(JEQ, vlo, eq, ne);
      return;
    }
    case "SCMP_CMP_GT":
    case "SCMP_CMP_GE":
    case "SCMP_CMP_LT":
    case "SCMP_CMP_LE": {
      // GT/GE pass above; LT/LE are their negations (LT = !GE, LE = !GT).
      const upper = c.op === "SCMP_CMP_GT" || c.op === "SCMP_CMP_GE";
      const [above, below] = upper ? [pass, fail] : [fail, pass];
      if (wide) {
        a.stmt(LD_ABS, hi);
        if (vhi === 0) a.jump(JEQ, 0, low, above);
        else {
          const same = a.label();
          if (vhi !== 0xffffffff) a.jump(JGT, vhi, above, same);
          a.bind(same);
          a.jump(JEQ, vhi, low, below);
        }
        a.bind(low);
      }
      a.stmt(LD_ABS, lo);
      const strict = c.op === "SCMP_CMP_GT" || c.op === "SCMP_CMP_LE";
      a.jump(strict ? JGT : JGE, vlo, above, below);
      return;
    }
    case "SCMP_CMP_MASKED_EQ": {
      const mlo = vlo, mhi = vhi;
      const dlo = Number(c.valueTwo & 0xffffffffn);
      const dhi = Number((c.valueTwo >> 32n) & 0xffffffffn);
      if (wide) {
        a.stmt(LD_ABS, hi);
        if (mhi !== 0xffffffff) a.stmt(AND, mhi);
        a.jump(JEQ, dhi, low, fail);
        a.bind(low);
      }
      a.stmt(LD_ABS, lo);
      if (mlo !== 0xffffffff) a.stmt(AND, mlo);
      a.jump(JEQ, dlo, pass, fail);
      return;
    }
  }
}
