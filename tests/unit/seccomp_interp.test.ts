/** The classic BPF interpreter, verifier and disassembler used to test seccomp filters. */
import assert from "node:assert/strict";
import { BPF, encodeFilter, SECCOMP_RET, type SockFilter } from "../../ffi/seccomp.ts";
import {
  disassemble,
  retName,
  runFilter,
  verifyFilter,
} from "../../lib/runtime/seccomp/bpf_interp.ts";

const stmt = (code: number, k = 0): SockFilter => ({ code, jt: 0, jf: 0, k });
const jump = (code: number, k: number, jt: number, jf: number): SockFilter => ({ code, jt, jf, k });

const LD = BPF.LD | BPF.W | BPF.ABS;
const RET_A = BPF.RET | BPF.A;
const data = (nr: number, ...args: bigint[]) => ({ nr, arch: 0xc000003e, args });

Deno.test("runFilter() loads every word of seccomp_data, little endian", () => {
  const word = (k: number) =>
    runFilter([stmt(LD, k), stmt(RET_A)], {
      nr: 0x11223344,
      arch: 0xc000003e,
      instructionPointer: 0x0102030405060708n,
      args: [0xaaaabbbbccccddddn, 0n, 0n, 0n, 0n, 0xffffffff00000001n],
    });
  assert.equal(word(0), 0x11223344);
  assert.equal(word(4), 0xc000003e);
  assert.equal(word(8), 0x05060708);
  assert.equal(word(12), 0x01020304);
  assert.equal(word(16), 0xccccdddd);
  assert.equal(word(20), 0xaaaabbbb);
  assert.equal(word(56), 1);
  assert.equal(word(60), 0xffffffff);
});

Deno.test("runFilter() does ALU, scratch memory, X and every jump", () => {
  const alu = (op: number, a: number, k: number) =>
    runFilter([stmt(BPF.LD | BPF.IMM, a), stmt(BPF.ALU | op | BPF.K, k), stmt(RET_A)], data(0));
  assert.equal(alu(BPF.ADD, 0xffffffff, 2), 1);
  assert.equal(alu(BPF.SUB, 1, 2), 0xffffffff);
  assert.equal(alu(BPF.MUL, 0x10000, 0x10001), 0x10000);
  assert.equal(alu(BPF.DIV, 7, 2), 3);
  assert.equal(alu(BPF.AND, 0xff00ff00, 0x0ff00ff0), 0x0f000f00);
  assert.equal(alu(BPF.OR, 0xf0, 0x0f), 0xff);
  assert.equal(alu(BPF.XOR, 0xff, 0x0f), 0xf0);
  assert.equal(alu(BPF.LSH, 0x80000001, 1), 2);
  assert.equal(alu(BPF.RSH, 0x80000000, 31), 1);
  assert.equal(
    runFilter([stmt(BPF.LD | BPF.IMM, 1), stmt(BPF.ALU | BPF.NEG), stmt(RET_A)], data(0)),
    0xffffffff,
  );

  // X, TAX/TXA, scratch cells, LEN, RET A.
  const prog = [
    stmt(LD, 0), // A = nr
    stmt(BPF.ST, 3), // M[3] = nr
    stmt(BPF.LDX | BPF.W | BPF.LEN), // X = 64
    stmt(BPF.ALU | BPF.ADD | BPF.X), // A = nr + 64
    stmt(BPF.MISC | BPF.TAX), // X = A
    stmt(BPF.LD | BPF.MEM, 3), // A = nr
    stmt(BPF.ALU | BPF.SUB | BPF.X), // A = nr - (nr + 64) = -64
    stmt(BPF.MISC | BPF.TAX), // X = -64
    stmt(BPF.LD | BPF.IMM, 0),
    stmt(BPF.STX, 4),
    stmt(BPF.LDX | BPF.MEM, 4),
    stmt(BPF.MISC | BPF.TXA),
    stmt(RET_A),
  ];
  assert.deepEqual(verifyFilter(prog), []);
  assert.equal(runFilter(prog, data(5)), (-64) >>> 0);
  // Division by an X of 0 ends the program with 0, as in the kernel.
  assert.equal(
    runFilter([stmt(BPF.LDX | BPF.IMM, 0), stmt(BPF.ALU | BPF.DIV | BPF.X), stmt(RET_A)], data(0)),
    0,
  );

  const cmp = (op: number, nr: number, k: number) =>
    runFilter([
      stmt(LD, 0),
      jump(BPF.JMP | op | BPF.K, k, 1, 0),
      stmt(BPF.RET, 0),
      stmt(BPF.RET, 1),
    ], data(nr));
  assert.equal(cmp(BPF.JEQ, 5, 5), 1);
  assert.equal(cmp(BPF.JEQ, 5, 6), 0);
  assert.equal(cmp(BPF.JGT, 6, 5), 1);
  assert.equal(cmp(BPF.JGT, 5, 5), 0);
  assert.equal(cmp(BPF.JGE, 5, 5), 1);
  assert.equal(cmp(BPF.JGE, 0xffffffff, 0x80000000), 1, "unsigned");
  assert.equal(cmp(BPF.JSET, 6, 2), 1);
  assert.equal(cmp(BPF.JSET, 5, 2), 0);
  // JA skips k instructions; a jump on X.
  const ja = [stmt(BPF.JMP | BPF.JA, 1), stmt(BPF.RET, 0), stmt(BPF.LDX | BPF.IMM, 9), stmt(LD, 0)];
  ja.push(jump(BPF.JMP | BPF.JEQ | BPF.X, 0, 0, 1), stmt(BPF.RET, 7), stmt(BPF.RET, 8));
  assert.deepEqual(verifyFilter(ja), []);
  assert.equal(runFilter(ja, data(9)), 7);
  assert.equal(runFilter(ja, data(3)), 8);
});

Deno.test("verifyFilter() finds what the kernel refuses", () => {
  const ret = stmt(BPF.RET, 0);
  const check = (prog: SockFilter[]) => verifyFilter(prog);
  assert.deepEqual(check([]), ["0 instructions (1 to 4096)"]);
  assert.deepEqual(check(Array(4097).fill(ret)), ["4097 instructions (1 to 4096)"]);
  assert.deepEqual(check([stmt(LD, 0)]), ["0: the last instruction is not a RET"]);
  assert.deepEqual(check([stmt(LD, 2), ret]), [
    "0: load of byte 2: not a 4-aligned word of seccomp_data",
  ]);
  assert.deepEqual(check([stmt(LD, 64), ret]), [
    "0: load of byte 64: not a 4-aligned word of seccomp_data",
  ]);
  assert.deepEqual(check([stmt(BPF.LD | BPF.H | BPF.ABS, 0), ret]), [
    "0: opcode 0x28 is not allowed in a seccomp filter",
  ]);
  assert.deepEqual(check([stmt(BPF.ALU | BPF.MOD | BPF.K, 3), ret]), [
    "0: opcode 0x94 is not allowed in a seccomp filter",
  ]);
  assert.deepEqual(check([stmt(BPF.ALU | BPF.DIV | BPF.K, 0), ret]), ["0: division by 0"]);
  assert.deepEqual(check([jump(BPF.JMP | BPF.JEQ | BPF.K, 0, 1, 0), ret]), [
    "0: jump (+1, +0) leaves the program",
  ]);
  assert.deepEqual(check([stmt(BPF.JMP | BPF.JA, 1), ret]), ["0: JA +1 leaves the program"]);
  assert.deepEqual(check([stmt(BPF.ST, 16), ret]), ["0: scratch cell 16"]);
  // A cell read on a path that skipped its store.
  assert.deepEqual(
    check([
      stmt(LD, 0),
      jump(BPF.JMP | BPF.JEQ | BPF.K, 1, 0, 1),
      stmt(BPF.ST, 2),
      stmt(BPF.LD | BPF.MEM, 2),
      stmt(RET_A),
    ]),
    ["3: reads scratch cell 2 before writing it"],
  );
  assert.deepEqual(
    check([stmt(BPF.LD | BPF.IMM, 1), stmt(BPF.ST, 2), stmt(BPF.LD | BPF.MEM, 2), stmt(RET_A)]),
    [],
  );
});

Deno.test("disassemble() prints one instruction a line with targets and meanings", () => {
  const prog = encodeFilter([
    stmt(LD, 4),
    jump(BPF.JMP | BPF.JEQ | BPF.K, 0xc000003e, 1, 0),
    stmt(BPF.RET, SECCOMP_RET.KILL_THREAD),
    stmt(LD, 20),
    stmt(BPF.ALU | BPF.AND | BPF.K, 0x7e020000),
    jump(BPF.JMP | BPF.JGE | BPF.K, 57, 0, 1),
    stmt(BPF.RET, SECCOMP_RET.ERRNO | 38),
    stmt(BPF.RET, SECCOMP_RET.ALLOW),
  ]);
  assert.equal(
    disassemble(prog),
    [
      "0: ld [4]                       ; arch",
      "1: jeq #0xc000003e, 3, 2        ; AUDIT_ARCH_X86_64",
      "2: ret #0x0                     ; KILL_THREAD",
      "3: ld [20]                      ; args[0].hi",
      "4: and #0x7e020000",
      "5: jge #0x39, 6, 7              ; 57",
      "6: ret #0x50026                 ; ERRNO(38)",
      "7: ret #0x7fff0000              ; ALLOW",
    ].join("\n"),
  );
  assert.equal(retName(SECCOMP_RET.TRACE | 5), "TRACE(5)");
  assert.equal(retName(SECCOMP_RET.KILL_PROCESS), "KILL_PROCESS");
});
