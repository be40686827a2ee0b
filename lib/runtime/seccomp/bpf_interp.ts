/**
 * Classic BPF as seccomp runs it, in TypeScript: an interpreter (to test a
 * filter's decisions without installing it), a verifier with the kernel's
 * checks (bpf_check_classic plus seccomp_check_filter), and a disassembler
 * for debugging and `--dry-run`.
 *
 * Only what seccomp accepts: loads of 32-bit words of struct seccomp_data
 * (LD W ABS, 4-aligned, inside its 64 bytes), LD/LDX IMM and LEN, the 16
 * scratch cells (LD/LDX MEM, ST, STX), ALU on A with K or X (no MOD), NEG,
 * JA and JEQ/JGT/JGE/JSET with K or X, TAX/TXA, RET K/A.
 * @module
 */

import {
  AUDIT_ARCH,
  BPF,
  BPF_MAXINSNS,
  BPF_MEMWORDS,
  decodeFilter,
  SECCOMP_DATA,
  SECCOMP_RET,
  type SockFilter,
} from "../../../ffi/seccomp.ts";

/** The input of one filter run: struct seccomp_data. */
export interface SeccompData {
  /** The system call number. */
  readonly nr: number;
  /** AUDIT_ARCH_* of the calling ABI. */
  readonly arch: number;
  /** Where the call was made (rarely looked at). */
  readonly instructionPointer?: bigint;
  /** The six arguments, as 64-bit register values (missing ones are 0). */
  readonly args: readonly bigint[];
}

const CLASS = 0x07, SIZE = 0x18, MODE = 0xe0, OP = 0xf0, SRC = 0x08;

const ALU_OPS = new Set<number>([
  BPF.ADD,
  BPF.SUB,
  BPF.MUL,
  BPF.DIV,
  BPF.AND,
  BPF.OR,
  BPF.XOR,
  BPF.LSH,
  BPF.RSH,
]);
const JMP_OPS = new Set<number>([BPF.JEQ, BPF.JGT, BPF.JGE, BPF.JSET]);

/** Whether seccomp accepts this opcode (and its k, for loads and scratch cells). */
function opcodeProblem(i: SockFilter): string | undefined {
  const cls = i.code & CLASS;
  switch (cls) {
    case BPF.LD:
    case BPF.LDX: {
      if (i.code === (BPF.LD | BPF.W | BPF.ABS)) {
        if (i.k >= SECCOMP_DATA.SIZE || i.k & 3) {
          return `load of byte ${i.k}: not a 4-aligned word of seccomp_data`;
        }
        return undefined;
      }
      const mode = i.code & MODE;
      if ((i.code & SIZE) !== BPF.W) break;
      if (mode === BPF.IMM || mode === BPF.LEN) return undefined;
      if (mode === BPF.MEM) return i.k < BPF_MEMWORDS ? undefined : `scratch cell ${i.k}`;
      break;
    }
    case BPF.ST:
    case BPF.STX:
      if (i.code !== cls) break;
      return i.k < BPF_MEMWORDS ? undefined : `scratch cell ${i.k}`;
    case BPF.ALU: {
      const op = i.code & OP;
      if (op === BPF.NEG) return i.code === (BPF.ALU | BPF.NEG) ? undefined : "bad NEG";
      if (!ALU_OPS.has(op) || (i.code & ~(OP | SRC | CLASS))) break;
      if (op === BPF.DIV && (i.code & SRC) === BPF.K && i.k === 0) return "division by 0";
      if ((op === BPF.LSH || op === BPF.RSH) && (i.code & SRC) === BPF.K && i.k >= 32) {
        return `shift by ${i.k}`;
      }
      return undefined;
    }
    case BPF.JMP: {
      const op = i.code & OP;
      if (op === BPF.JA) return i.code === (BPF.JMP | BPF.JA) ? undefined : "bad JA";
      if (JMP_OPS.has(op) && !(i.code & ~(OP | SRC | CLASS))) return undefined;
      break;
    }
    case BPF.RET:
      if (i.code === (BPF.RET | BPF.K) || i.code === (BPF.RET | BPF.A)) return undefined;
      break;
    case BPF.MISC:
      if (i.code === (BPF.MISC | BPF.TAX) || i.code === (BPF.MISC | BPF.TXA)) return undefined;
      break;
  }
  return `opcode 0x${i.code.toString(16)} is not allowed in a seccomp filter`;
}

/**
 * The kernel's checks on a seccomp program, as a list of problems (empty:
 * the kernel would load it): 1 to 4096 instructions, allowed opcodes, every
 * jump inside the program, the last instruction a RET, and no scratch cell
 * read on a path that has not written it.
 */
export function verifyFilter(program: Uint8Array | readonly SockFilter[]): string[] {
  const insns = program instanceof Uint8Array ? decodeFilter(program) : program;
  const problems: string[] = [];
  const n = insns.length;
  if (n === 0 || n > BPF_MAXINSNS) problems.push(`${n} instructions (1 to ${BPF_MAXINSNS})`);
  insns.forEach((i, pc) => {
    const p = opcodeProblem(i);
    if (p) problems.push(`${pc}: ${p}`);
    if ((i.code & CLASS) !== BPF.JMP) return;
    if ((i.code & OP) === BPF.JA) {
      if (i.k >= n - pc - 1) problems.push(`${pc}: JA +${i.k} leaves the program`);
    } else if (pc + 1 + i.jt >= n || pc + 1 + i.jf >= n) {
      problems.push(`${pc}: jump (+${i.jt}, +${i.jf}) leaves the program`);
    }
  });
  const last = insns[n - 1];
  if (last && (last.code & CLASS) !== BPF.RET) {
    problems.push(`${n - 1}: the last instruction is not a RET`);
  }
  if (!problems.length) problems.push(...scratchProblems(insns));
  return problems;
}

/** Scratch cells read before every path to the read has written them (the kernel's check_load_and_stores). */
function scratchProblems(insns: readonly SockFilter[]): string[] {
  const all = (1 << BPF_MEMWORDS) - 1;
  const written: number[] = new Array(insns.length).fill(all);
  written[0] = 0;
  const problems: string[] = [];
  insns.forEach((i, pc) => {
    let w = written[pc];
    const cls = i.code & CLASS;
    if (cls === BPF.ST || cls === BPF.STX) w |= 1 << i.k;
    if ((cls === BPF.LD || cls === BPF.LDX) && (i.code & MODE) === BPF.MEM && !(w & (1 << i.k))) {
      problems.push(`${pc}: reads scratch cell ${i.k} before writing it`);
    }
    const flow = (to: number) => {
      if (to < insns.length) written[to] &= w;
    };
    if (cls === BPF.RET) return;
    if (cls === BPF.JMP) {
      if ((i.code & OP) === BPF.JA) flow(pc + 1 + i.k);
      else {
        flow(pc + 1 + i.jt);
        flow(pc + 1 + i.jf);
      }
    } else flow(pc + 1);
  });
  return problems;
}

/** struct seccomp_data as the filter reads it (little endian). */
function seccompData(d: SeccompData): DataView {
  const v = new DataView(new ArrayBuffer(SECCOMP_DATA.SIZE));
  v.setUint32(SECCOMP_DATA.NR, d.nr >>> 0, true);
  v.setUint32(SECCOMP_DATA.ARCH, d.arch >>> 0, true);
  v.setBigUint64(SECCOMP_DATA.IP, BigInt.asUintN(64, d.instructionPointer ?? 0n), true);
  for (let i = 0; i < 6; i++) {
    v.setBigUint64(SECCOMP_DATA.ARGS + 8 * i, BigInt.asUintN(64, d.args[i] ?? 0n), true);
  }
  return v;
}

/**
 * Runs a filter on one call and returns its 32-bit answer (SECCOMP_RET_*
 * with data). The program must pass verifyFilter; anything else throws.
 */
export function runFilter(program: Uint8Array | readonly SockFilter[], data: SeccompData): number {
  const insns = program instanceof Uint8Array ? decodeFilter(program) : program;
  const d = seccompData(data);
  const mem = new Uint32Array(BPF_MEMWORDS);
  let a = 0, x = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const i = insns[pc];
    const cls = i.code & CLASS;
    switch (cls) {
      case BPF.LD:
      case BPF.LDX: {
        const mode = i.code & MODE;
        const v = mode === BPF.ABS
          ? d.getUint32(i.k, true)
          : mode === BPF.IMM
          ? i.k
          : mode === BPF.LEN
          ? SECCOMP_DATA.SIZE
          : mem[i.k];
        if (cls === BPF.LD) a = v >>> 0;
        else x = v >>> 0;
        break;
      }
      case BPF.ST:
        mem[i.k] = a;
        break;
      case BPF.STX:
        mem[i.k] = x;
        break;
      case BPF.ALU: {
        const src = (i.code & SRC) === BPF.X ? x : i.k;
        switch (i.code & OP) {
          case BPF.ADD:
            a = (a + src) >>> 0;
            break;
          case BPF.SUB:
            a = (a - src) >>> 0;
            break;
          case BPF.MUL:
            a = Math.imul(a, src) >>> 0;
            break;
          case BPF.DIV:
            if (src === 0) return 0; // the kernel's answer to a division by X = 0
            a = Math.floor(a / src) >>> 0;
            break;
          case BPF.AND:
            a = (a & src) >>> 0;
            break;
          case BPF.OR:
            a = (a | src) >>> 0;
            break;
          case BPF.XOR:
            a = (a ^ src) >>> 0;
            break;
          case BPF.LSH:
            a = src >= 32 ? 0 : (a << src) >>> 0;
            break;
          case BPF.RSH:
            a = src >= 32 ? 0 : a >>> src;
            break;
          case BPF.NEG:
            a = -a >>> 0;
            break;
        }
        break;
      }
      case BPF.JMP: {
        const op = i.code & OP;
        if (op === BPF.JA) {
          pc += i.k;
          break;
        }
        const src = (i.code & SRC) === BPF.X ? x : i.k;
        const taken = op === BPF.JEQ
          ? a === src
          : op === BPF.JGT
          ? a > src
          : op === BPF.JGE
          ? a >= src
          : (a & src) !== 0;
        pc += taken ? i.jt : i.jf;
        break;
      }
      case BPF.RET:
        return ((i.code & 0x18) === BPF.A ? a : i.k) >>> 0;
      case BPF.MISC:
        if ((i.code & 0xf8) === BPF.TXA) a = x;
        else x = a;
        break;
    }
  }
  throw new Error("The BPF program ran past its end without a RET");
}

/** The action part of a filter's answer, by name, with its data: "ERRNO(1)", "ALLOW". */
export function retName(ret: number): string {
  const action = (ret & SECCOMP_RET.ACTION_FULL) >>> 0, data = ret & SECCOMP_RET.DATA;
  const names: Record<number, string> = {
    [SECCOMP_RET.KILL_PROCESS]: "KILL_PROCESS",
    [SECCOMP_RET.KILL_THREAD]: "KILL_THREAD",
    [SECCOMP_RET.TRAP]: "TRAP",
    [SECCOMP_RET.ERRNO]: "ERRNO",
    [SECCOMP_RET.USER_NOTIF]: "USER_NOTIF",
    [SECCOMP_RET.TRACE]: "TRACE",
    [SECCOMP_RET.LOG]: "LOG",
    [SECCOMP_RET.ALLOW]: "ALLOW",
  };
  const name = names[action] ?? `0x${action.toString(16)}`;
  return data || action === SECCOMP_RET.ERRNO || action === SECCOMP_RET.TRACE
    ? `${name}(${data})`
    : name;
}

const ARCH_NAMES: Record<number, string> = {
  [AUDIT_ARCH.X86_64]: "AUDIT_ARCH_X86_64",
  [AUDIT_ARCH.I386]: "AUDIT_ARCH_I386",
  [AUDIT_ARCH.AARCH64]: "AUDIT_ARCH_AARCH64",
  [AUDIT_ARCH.ARM]: "AUDIT_ARCH_ARM",
};

function field(k: number): string {
  if (k === SECCOMP_DATA.NR) return "nr";
  if (k === SECCOMP_DATA.ARCH) return "arch";
  if (k < SECCOMP_DATA.ARGS) return k === SECCOMP_DATA.IP ? "ip.lo" : "ip.hi";
  const n = (k - SECCOMP_DATA.ARGS) >> 3;
  return `args[${n}].${(k - SECCOMP_DATA.ARGS) & 4 ? "hi" : "lo"}`;
}

const hex = (k: number) => `0x${(k >>> 0).toString(16)}`;

/**
 * The program as text, one instruction a line, jumps with absolute targets
 * and comments naming the seccomp_data field, the architecture or the action:
 *
 *       0: ld [4]                     ; arch
 *       1: jeq #0xc000003e, 3, 2      ; AUDIT_ARCH_X86_64
 *       2: ret #0x0                   ; KILL_THREAD
 */
export function disassemble(program: Uint8Array | readonly SockFilter[]): string {
  const insns = program instanceof Uint8Array ? decodeFilter(program) : program;
  const width = String(insns.length).length;
  const alu: Record<number, string> = {
    [BPF.ADD]: "add",
    [BPF.SUB]: "sub",
    [BPF.MUL]: "mul",
    [BPF.DIV]: "div",
    [BPF.AND]: "and",
    [BPF.OR]: "or",
    [BPF.XOR]: "xor",
    [BPF.LSH]: "lsh",
    [BPF.RSH]: "rsh",
  };
  const jmp: Record<number, string> = {
    [BPF.JEQ]: "jeq",
    [BPF.JGT]: "jgt",
    [BPF.JGE]: "jge",
    [BPF.JSET]: "jset",
  };
  return insns.map((i, pc) => {
    const cls = i.code & CLASS;
    const src = (i.code & SRC) === BPF.X ? "x" : `#${hex(i.k)}`;
    let text: string, note = "";
    switch (cls) {
      case BPF.LD:
      case BPF.LDX: {
        const reg = cls === BPF.LD ? "ld" : "ldx";
        const mode = i.code & MODE;
        if (mode === BPF.ABS) [text, note] = [`${reg} [${i.k}]`, field(i.k)];
        else if (mode === BPF.IMM) text = `${reg} #${hex(i.k)}`;
        else if (mode === BPF.LEN) text = `${reg} #len`;
        else text = `${reg} M[${i.k}]`;
        break;
      }
      case BPF.ST:
        text = `st M[${i.k}]`;
        break;
      case BPF.STX:
        text = `stx M[${i.k}]`;
        break;
      case BPF.ALU:
        text = (i.code & OP) === BPF.NEG ? "neg" : `${alu[i.code & OP] ?? "alu?"} ${src}`;
        break;
      case BPF.JMP:
        if ((i.code & OP) === BPF.JA) text = `ja ${pc + 1 + i.k}`;
        else {
          text = `${jmp[i.code & OP] ?? "j?"} ${src}, ${pc + 1 + i.jt}, ${pc + 1 + i.jf}`;
          note = ARCH_NAMES[i.k] ?? (i.k >= 1024 ? "" : String(i.k));
        }
        break;
      case BPF.RET:
        if ((i.code & 0x18) === BPF.A) text = "ret a";
        else [text, note] = [`ret #${hex(i.k)}`, retName(i.k)];
        break;
      default:
        text = (i.code & 0xf8) === BPF.TXA ? "txa" : "tax";
    }
    const line = `${String(pc).padStart(width)}: ${text}`;
    return note ? `${line.padEnd(width + 30)} ; ${note}` : line;
  }).join("\n");
}
