/**
 * The kernel's seccomp and classic BPF interface: opcodes (linux/filter.h,
 * linux/bpf_common.h), filter return values, modes and flags
 * (linux/seccomp.h), architecture tokens (linux/audit.h), the layout of
 * struct seccomp_data, and the codec for struct sock_filter.
 * @module
 */

/** Classic BPF opcode fields: class, size, mode, ALU/jump operation, source. */
export const BPF = {
  // classes
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  RET: 0x06,
  MISC: 0x07,
  // sizes
  W: 0x00,
  H: 0x08,
  B: 0x10,
  // modes
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  LEN: 0x80,
  MSH: 0xa0,
  // ALU operations
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  // jumps
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  // sources (K: the constant; X: the index register; A: RET's accumulator)
  K: 0x00,
  X: 0x08,
  A: 0x10,
  // MISC
  TAX: 0x00,
  TXA: 0x80,
} as const;

/** The most instructions one classic BPF program may have (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

/** Scratch memory cells of a classic BPF program (BPF_MEMWORDS). */
export const BPF_MEMWORDS = 16;

/** seccomp(2) operations. */
export const SECCOMP_SET_MODE_FILTER = 1;

/** SECCOMP_FILTER_FLAG_*: flags of seccomp(SECCOMP_SET_MODE_FILTER). */
export const SECCOMP_FILTER_FLAG = {
  TSYNC: 1,
  LOG: 2,
  SPEC_ALLOW: 4,
  NEW_LISTENER: 8,
  TSYNC_ESRCH: 16,
  WAIT_KILLABLE_RECV: 32,
} as const;

/**
 * SECCOMP_RET_*: a filter's 32-bit answer is an action in the high 16 bits
 * (KILL_PROCESS uses the top bit) and data in the low 16 (the errno of
 * ERRNO, the message of TRACE).
 */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
  ACTION_FULL: 0xffff0000,
  DATA: 0x0000ffff,
} as const;

/**
 * AUDIT_ARCH_*: what seccomp_data.arch holds for each ABI (x32 shares
 * x86_64's and is told apart by X32_SYSCALL_BIT in the number).
 */
export const AUDIT_ARCH = {
  X86_64: 0xc000003e,
  I386: 0x40000003,
  AARCH64: 0xc00000b7,
  ARM: 0x40000028,
} as const;

/** __X32_SYSCALL_BIT: set in every x32 system call number. */
export const X32_SYSCALL_BIT = 0x40000000;

/**
 * struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }:
 * byte offsets of its fields. args[i] is at ARGS + 8 * i; on a little-endian
 * machine its low 32 bits come first.
 */
export const SECCOMP_DATA = { NR: 0, ARCH: 4, IP: 8, ARGS: 16, SIZE: 64 } as const;

/** One struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }. */
export interface SockFilter {
  /** Opcode: class | size/operation | mode/source. */
  readonly code: number;
  /** Instructions to skip when a conditional jump is taken. */
  readonly jt: number;
  /** Instructions to skip when it is not. */
  readonly jf: number;
  /** The constant operand. */
  readonly k: number;
}

/** Bytes per struct sock_filter. */
export const SOCK_FILTER_SIZE = 8;

/** Encodes instructions as the kernel reads them (host byte order: little endian here). */
export function encodeFilter(insns: readonly SockFilter[]): Uint8Array {
  const out = new Uint8Array(insns.length * SOCK_FILTER_SIZE);
  const v = new DataView(out.buffer);
  insns.forEach((i, n) => {
    const o = n * SOCK_FILTER_SIZE;
    v.setUint16(o, i.code, true);
    v.setUint8(o + 2, i.jt);
    v.setUint8(o + 3, i.jf);
    v.setUint32(o + 4, i.k >>> 0, true);
  });
  return out;
}

/** Decodes a program written by encodeFilter (or by any classic BPF producer). */
export function decodeFilter(program: Uint8Array): SockFilter[] {
  if (program.length % SOCK_FILTER_SIZE !== 0) {
    throw new Error(`A BPF program is a multiple of 8 bytes, not ${program.length}`);
  }
  const v = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const out: SockFilter[] = [];
  for (let o = 0; o < program.length; o += SOCK_FILTER_SIZE) {
    out.push({
      code: v.getUint16(o, true),
      jt: v.getUint8(o + 2),
      jf: v.getUint8(o + 3),
      k: v.getUint32(o + 4, true),
    });
  }
  return out;
}

/**
 * struct sock_fprog { unsigned short len; struct sock_filter *filter; } on a
 * 64-bit ABI: 16 bytes, the pointer at FPROG_FILTER_OFFSET (left 0 here, for
 * whoever places the program in memory to fill in).
 */
export function sockFprog(instructions: number): Uint8Array {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint16(0, instructions, true);
  return b;
}

/** Offset of the filter pointer inside struct sock_fprog. */
export const FPROG_FILTER_OFFSET = 8;
