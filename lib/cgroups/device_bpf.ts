/**
 * Device rules on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program, built
 * here from the rule list (first match allows; nothing matched denies) and
 * attached to the container's cgroup with bpf(2).
 *
 * The program's context is struct bpf_cgroup_dev_ctx { u32 access_type;
 * u32 major; u32 minor; } with access_type = access << 16 | type, type
 * 1 block / 2 char, access bits 1 mknod / 2 read / 4 write.
 * @module
 */

import { SyscallError } from "../../ffi/errno.ts";
import { O } from "../../ffi/constants.ts";
import { addressOf, close, cString, open, sys } from "../../ffi/sys.ts";
import type { DeviceRule } from "./limits.ts";

const BPF = {
  PROG_LOAD: 5,
  PROG_ATTACH: 8,
  PROG_TYPE_CGROUP_DEVICE: 15,
  CGROUP_DEVICE: 6,
  F_ALLOW_MULTI: 2,
};

/** One eBPF instruction: opcode, dst and src registers, offset, immediate. */
function insn(code: number, dst: number, src: number, off: number, imm: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, code);
  v.setUint8(1, (dst & 0xf) | ((src & 0xf) << 4));
  v.setInt16(2, off, true);
  v.setInt32(4, imm | 0, true);
  return b;
}

const LDXW = 0x61,
  MOV64_REG = 0xbf,
  MOV64_IMM = 0xb7,
  AND64_IMM = 0x57,
  RSH64_IMM = 0x77,
  JNE_IMM = 0x55,
  EXIT = 0x95;

function accessBits(access: string): number {
  return (access.includes("m") ? 1 : 0) | (access.includes("r") ? 2 : 0) |
    (access.includes("w") ? 4 : 0);
}

/** The program for `rules` (allow rules, in order), as eBPF bytecode. */
export function deviceProgram(rules: readonly DeviceRule[]): Uint8Array {
  const out: Uint8Array[] = [
    insn(LDXW, 2, 1, 0, 0), // r2 = access_type
    insn(MOV64_REG, 3, 2, 0, 0),
    insn(AND64_IMM, 3, 0, 0, 0xffff), // r3 = type
    insn(MOV64_REG, 4, 2, 0, 0),
    insn(RSH64_IMM, 4, 0, 0, 16), // r4 = access
    insn(LDXW, 5, 1, 4, 0), // r5 = major
    insn(LDXW, 6, 1, 8, 0), // r6 = minor
  ];
  for (const r of rules) {
    // Each check jumps past the rest of this rule when it does not match.
    const checks: [number, number, number, number, number][] = [];
    if (r.type !== "a") checks.push([JNE_IMM, 3, 0, 0, r.type === "b" ? 1 : 2]);
    const acc = accessBits(r.access);
    const block: [number, number, number, number, number][] = [];
    if (acc !== 7) {
      block.push([MOV64_REG, 7, 4, 0, 0], [AND64_IMM, 7, 0, 0, ~acc & 0xffffffff], [
        JNE_IMM,
        7,
        0,
        0,
        0,
      ]);
    }
    if (r.major !== "*") block.push([JNE_IMM, 5, 0, 0, r.major]);
    if (r.minor !== "*") block.push([JNE_IMM, 6, 0, 0, r.minor]);
    const all = [...checks, ...block, [MOV64_IMM, 0, 0, 0, 1], [EXIT, 0, 0, 0, 0]] as [
      number,
      number,
      number,
      number,
      number,
    ][];
    all.forEach((i, k) => {
      if (i[0] === JNE_IMM) i[3] = all.length - (k + 1);
      out.push(insn(...i));
    });
  }
  out.push(insn(MOV64_IMM, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0));
  const bytes = new Uint8Array(out.length * 8);
  out.forEach((b, i) => bytes.set(b, i * 8));
  return bytes;
}

/**
 * Loads the program for `rules` and attaches it to the cgroup v2 directory
 * `dir` (it stays attached until the cgroup is removed).
 */
export function attachDeviceFilter(dir: string, rules: readonly DeviceRule[]): void {
  const prog = deviceProgram(rules);
  const license = cString("Apache-2.0");
  const log = new Uint8Array(65536);
  const attr = new Uint8Array(128);
  const v = new DataView(attr.buffer);
  v.setUint32(0, BPF.PROG_TYPE_CGROUP_DEVICE, true);
  v.setUint32(4, prog.length / 8, true);
  v.setBigUint64(8, addressOf(prog), true);
  v.setBigUint64(16, addressOf(license), true);
  v.setUint32(24, 1, true); // log_level: the verifier says why when it refuses
  v.setUint32(28, log.length, true);
  v.setBigUint64(32, addressOf(log), true);
  let progFd: number;
  try {
    progFd = sys(
      "bpf",
      `BPF_PROG_LOAD device filter for ${dir}`,
      BPF.PROG_LOAD,
      addressOf(attr),
      attr.length,
    );
  } catch (e) {
    const text = new TextDecoder().decode(log.subarray(0, log.indexOf(0))).trim();
    if (e instanceof SyscallError && text) {
      throw new Error(`${e.message}: ${text.split("\n").slice(-3).join(" ")}`);
    }
    throw e;
  }
  const cg = open(dir, O.RDONLY | O.DIRECTORY);
  try {
    const a = new Uint8Array(16);
    const av = new DataView(a.buffer);
    av.setUint32(0, cg, true);
    av.setUint32(4, progFd, true);
    av.setUint32(8, BPF.CGROUP_DEVICE, true);
    av.setUint32(12, BPF.F_ALLOW_MULTI, true);
    sys("bpf", `BPF_PROG_ATTACH device filter to ${dir}`, BPF.PROG_ATTACH, addressOf(a), a.length);
  } finally {
    close(cg);
    close(progFd);
  }
}
