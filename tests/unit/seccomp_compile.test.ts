/** The seccomp filter compiler, checked with the interpreter (no root needed). */
import assert from "node:assert/strict";
import { BPF, decodeFilter, SECCOMP_FILTER_FLAG } from "../../ffi/seccomp.ts";
import { X86_64 } from "../../ffi/syscall_table/x86_64.ts";
import { Asm } from "../../lib/runtime/seccomp/asm.ts";
import { runFilter, verifyFilter } from "../../lib/runtime/seccomp/bpf_interp.ts";
import { type CompiledFilter, compileFilter } from "../../lib/runtime/seccomp/compile.ts";
import {
  type OciSeccomp,
  type OciSeccompArg,
  OPERATORS,
  parseProfileText,
  type SeccompAction,
  type SeccompOperator,
} from "../../lib/runtime/seccomp/profile.ts";
import { assertLoadable, decide } from "./_seccomp.ts";

const X86 = { arch: "x86_64" } as const;

function compile(p: OciSeccomp, opts: Parameters<typeof compileFilter>[1] = X86): CompiledFilter {
  const f = compileFilter(p, opts);
  assertLoadable(f);
  return f;
}

function arg(index: number, op: SeccompOperator, value: bigint, valueTwo = 0n): OciSeccompArg {
  return { index, op, value, valueTwo };
}

Deno.test("compileFilter() answers each action with its SECCOMP_RET value", () => {
  const cases: [SeccompAction, number | undefined, string][] = [
    ["SCMP_ACT_KILL", undefined, "KILL_THREAD"],
    ["SCMP_ACT_KILL_THREAD", undefined, "KILL_THREAD"],
    ["SCMP_ACT_KILL_PROCESS", undefined, "KILL_PROCESS"],
    ["SCMP_ACT_TRAP", undefined, "TRAP"],
    ["SCMP_ACT_ERRNO", undefined, "ERRNO(1)"],
    ["SCMP_ACT_ERRNO", 38, "ERRNO(38)"],
    ["SCMP_ACT_ERRNO", 0, "ERRNO(0)"],
    ["SCMP_ACT_TRACE", undefined, "TRACE(1)"],
    ["SCMP_ACT_TRACE", 7, "TRACE(7)"],
    ["SCMP_ACT_LOG", undefined, "LOG"],
    ["SCMP_ACT_ALLOW", undefined, "ALLOW"],
    ["SCMP_ACT_NOTIFY", undefined, "USER_NOTIF"],
  ];
  const names = Object.keys(X86_64).slice(0, cases.length);
  const f = compile({
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 95,
    syscalls: cases.map(([action, errnoRet], i) => ({
      names: [names[i]],
      action,
      ...(errnoRet === undefined ? {} : { errnoRet }),
    })),
  });
  cases.forEach(([, , want], i) => assert.equal(decide(f, "x86_64", names[i]), want, names[i]));
  assert.equal(decide(f, "x86_64", "getpid"), "ERRNO(95)", "defaultErrnoRet");
  assert.equal(f.notify, true);
  assert.equal(f.flags & SECCOMP_FILTER_FLAG.NEW_LISTENER, SECCOMP_FILTER_FLAG.NEW_LISTENER);
  // Without defaultErrnoRet the default errno is EPERM.
  const g = compile({ defaultAction: "SCMP_ACT_ERRNO" });
  assert.equal(decide(g, "x86_64", "getpid"), "ERRNO(1)");
  assert.equal(g.notify, false);
});

/** What an operator means on two 64-bit values. */
function holds(op: SeccompOperator, a: bigint, v: bigint, v2: bigint): boolean {
  switch (op) {
    case "SCMP_CMP_EQ":
      return a === v;
    case "SCMP_CMP_NE":
      return a !== v;
    case "SCMP_CMP_LT":
      return a < v;
    case "SCMP_CMP_LE":
      return a <= v;
    case "SCMP_CMP_GT":
      return a > v;
    case "SCMP_CMP_GE":
      return a >= v;
    case "SCMP_CMP_MASKED_EQ":
      return (a & v) === v2;
  }
}

const VALUES = [
  0n,
  1n,
  5n,
  0x7fffffffn,
  0x80000000n,
  0xfffffffen,
  0xffffffffn,
  0x100000000n,
  0x100000005n,
  0x1fffffffen,
  0x7fffffff00000000n,
  0xffffffff00000000n,
  0xffffffff00000005n,
  0xfffffffffffffffen,
  0xffffffffffffffffn,
];

Deno.test("compileFilter() compares 64-bit arguments with every operator, high words first", () => {
  const ops = OPERATORS.filter((op) => op !== "SCMP_CMP_MASKED_EQ");
  let checked = 0;
  for (const op of ops) {
    for (const v of VALUES) {
      const f = compile({
        defaultAction: "SCMP_ACT_ERRNO",
        syscalls: [{ names: ["getpid"], action: "SCMP_ACT_ALLOW", args: [arg(3, op, v)] }],
      });
      for (const a of VALUES) {
        const want = holds(op, a, v, 0n) ? "ALLOW" : "ERRNO(1)";
        assert.equal(decide(f, "x86_64", "getpid", 0, 0, 0, a), want, `${a} ${op} ${v}`);
        checked++;
      }
    }
  }
  assert.equal(checked, 6 * VALUES.length ** 2);
});

Deno.test("compileFilter() SCMP_CMP_MASKED_EQ: (arg & value) == valueTwo, on both words", () => {
  const pairs: [bigint, bigint][] = [
    [0x7e020000n, 0n], // docker's clone rule: no namespace flag
    [0xffn, 0x11n],
    [0xffffffff00000000n, 0x100000000n],
    [0xffffffff00000000n, 0n],
    [0xffffffffffffffffn, 0xffffffff00000005n],
    [0x0000000100000001n, 0x0000000100000000n],
    [0n, 0n], // always true
    [0xfn, 0x10n], // datum outside the mask: never true
  ];
  for (const [mask, datum] of pairs) {
    const f = compile({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [{
        names: ["clone"],
        action: "SCMP_ACT_ALLOW",
        args: [arg(0, "SCMP_CMP_MASKED_EQ", mask, datum)],
      }],
    });
    for (const a of [...VALUES, 0x10000000n, 0x11n, 0x1011n, 0x100000000n, 0x100000001n]) {
      const want = holds("SCMP_CMP_MASKED_EQ", a, mask, datum) ? "ALLOW" : "ERRNO(1)";
      assert.equal(decide(f, "x86_64", "clone", a), want, `(${a} & ${mask}) == ${datum}`);
    }
  }
});

Deno.test("compileFilter() compares only the low word on 32-bit ABIs, as libseccomp", () => {
  const f = compile({
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    syscalls: [{
      names: ["getpid"],
      action: "SCMP_ACT_ALLOW",
      args: [arg(0, "SCMP_CMP_EQ", 0x100000005n)],
    }],
  });
  assert.deepEqual(f.abis, ["x86_64", "i386"]);
  assert.equal(decide(f, "x86_64", "getpid", 0x100000005n), "ALLOW");
  assert.equal(decide(f, "x86_64", "getpid", 5), "ERRNO(1)");
  assert.equal(decide(f, "i386", "getpid", 5), "ALLOW");
  assert.equal(decide(f, "i386", "getpid", 0x700000005n), "ALLOW");
  assert.equal(decide(f, "i386", "getpid", 6), "ERRNO(1)");
});

Deno.test("compileFilter() ANDs the conditions of one rule", () => {
  const f = compile({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{
      names: ["kill"],
      action: "SCMP_ACT_ALLOW",
      args: [arg(0, "SCMP_CMP_GT", 1n), arg(1, "SCMP_CMP_EQ", 15n), arg(0, "SCMP_CMP_LT", 100n)],
    }],
  });
  assert.equal(decide(f, "x86_64", "kill", 50, 15), "ALLOW");
  assert.equal(decide(f, "x86_64", "kill", 50, 9), "ERRNO(1)");
  assert.equal(decide(f, "x86_64", "kill", 1, 15), "ERRNO(1)");
  assert.equal(decide(f, "x86_64", "kill", 100, 15), "ERRNO(1)");
});

Deno.test("compileFilter() tries a call's rules in order; none matching gives the default", () => {
  const f = compile({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      {
        names: ["socket"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 97,
        args: [arg(0, "SCMP_CMP_EQ", 1n)],
      },
      { names: ["socket"], action: "SCMP_ACT_ALLOW", args: [arg(0, "SCMP_CMP_LT", 5n)] },
      { names: ["socket"], action: "SCMP_ACT_LOG", args: [arg(0, "SCMP_CMP_EQ", 10n)] },
    ],
  });
  assert.equal(decide(f, "x86_64", "socket", 1), "ERRNO(97)");
  assert.equal(decide(f, "x86_64", "socket", 3), "ALLOW");
  assert.equal(decide(f, "x86_64", "socket", 10), "LOG");
  assert.equal(decide(f, "x86_64", "socket", 7), "ERRNO(1)");
  assert.equal(decide(f, "x86_64", "socketpair", 1), "ERRNO(1)");
});

Deno.test("compileFilter() lets a rule without conditions decide its call (libseccomp's union)", () => {
  const f = compile({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      { names: ["socket"], action: "SCMP_ACT_TRAP", args: [arg(0, "SCMP_CMP_EQ", 1n)] },
      { names: ["socket"], action: "SCMP_ACT_LOG" },
      { names: ["socket"], action: "SCMP_ACT_ALLOW" }, // the first plain rule stays
    ],
  });
  assert.equal(decide(f, "x86_64", "socket", 1), "LOG");
  assert.equal(decide(f, "x86_64", "socket", 2), "LOG");
});

Deno.test("compileFilter() drops rules that repeat the default action, as runc", () => {
  const f = compile({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      { names: ["socket"], action: "SCMP_ACT_ERRNO" }, // ERRNO(EPERM) = the default: dropped
      { names: ["socket"], action: "SCMP_ACT_ALLOW", args: [arg(0, "SCMP_CMP_EQ", 2n)] },
      { names: ["bind"], action: "SCMP_ACT_ERRNO", errnoRet: 38 }, // another errno: kept
    ],
  });
  assert.equal(decide(f, "x86_64", "socket", 2), "ALLOW");
  assert.equal(decide(f, "x86_64", "socket", 3), "ERRNO(1)");
  assert.equal(decide(f, "x86_64", "bind"), "ERRNO(38)");
});

Deno.test("compileFilter() skips names an ABI lacks and says which", () => {
  const f = compile({
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_MIPS", "SCMP_ARCH_AARCH64"],
    syscalls: [{
      names: ["getpid", "no_such_call", "newfstatat", "socketcall"],
      action: "SCMP_ACT_ALLOW",
    }],
  });
  assert.deepEqual(f.skipped, [
    "SCMP_ARCH_MIPS (no syscall table)",
    "SCMP_ARCH_AARCH64 (cannot run on x86_64)",
    "no_such_call (x86_64, i386)",
    "socketcall (x86_64)",
    "newfstatat (i386)",
  ]);
  assert.equal(decide(f, "x86_64", "newfstatat"), "ALLOW");
  assert.equal(decide(f, "i386", "socketcall"), "ALLOW");
  assert.equal(decide(f, "i386", "getpid"), "ALLOW");
});

Deno.test("compileFilter() never lets an x32 number through when x32 is not covered", () => {
  const f = compile({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["mount", "getpid"], action: "SCMP_ACT_ERRNO" }],
  });
  assert.deepEqual(f.abis, ["x86_64"]);
  // Even with an allow-by-default profile: an x32 call is the bad-arch action.
  for (const call of ["read", "getpid", "mount"]) {
    assert.equal(decide(f, "x32", call), "KILL_THREAD", call);
  }
  assert.equal(decide(f, "x86_64", 0x40000000 + 2000), "KILL_THREAD");
  assert.equal(decide(f, "x86_64", 0xffffffff), "ALLOW", "nr -1 (a tracer skipping a call)");
  assert.equal(decide(f, "x86_64", "mount"), "ERRNO(1)");
  assert.equal(decide(f, "x86_64", "read"), "ALLOW");
  assert.equal(decide(f, "i386", "read"), "KILL_THREAD", "i386 not covered");
  assert.equal(decide(f, "aarch64", "read"), "KILL_THREAD");
  const p = compile({ defaultAction: "SCMP_ACT_ALLOW" }, {
    ...X86,
    badArchAction: "SCMP_ACT_KILL_PROCESS",
  });
  assert.equal(decide(p, "x32", "read"), "KILL_PROCESS");
  assert.equal(decide(p, "i386", "read"), "KILL_PROCESS");
});

Deno.test("compileFilter() covers x32 and i386 with their own numbers when listed", () => {
  const f = compile({
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_X86"],
    syscalls: [{ names: ["getpid", "rt_sigaction"], action: "SCMP_ACT_ALLOW" }],
  });
  assert.deepEqual(f.abis, ["x86_64", "x32", "i386"]);
  for (const abi of ["x86_64", "x32", "i386"] as const) {
    assert.equal(decide(f, abi, "getpid"), "ALLOW", abi);
    assert.equal(decide(f, abi, "rt_sigaction"), "ALLOW", abi);
    assert.equal(decide(f, abi, "mount"), "ERRNO(1)", abi);
  }
  // x32's rt_sigaction is 512|bit; its x86_64 number with the bit set is not an x32 call.
  assert.equal(decide(f, "x86_64", 0x40000000 + 13), "ERRNO(1)");
  // i386's getpid is 20; 39 there is umask.
  assert.equal(decide(f, "i386", 39), "ERRNO(1)");
  assert.equal(decide(f, "x86_64", 0xffffffff), "ERRNO(1)");
});

Deno.test("compileFilter() covers arm on aarch64, private calls included", () => {
  const f = compile({
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_X86"],
    syscalls: [{ names: ["getpid", "cacheflush", "open"], action: "SCMP_ACT_ALLOW" }],
  }, { arch: "aarch64" });
  assert.deepEqual(f.abis, ["aarch64", "arm"]);
  assert.deepEqual(f.skipped, [
    "SCMP_ARCH_X86 (cannot run on aarch64)",
    "cacheflush (aarch64)",
    "open (aarch64)",
  ]);
  assert.equal(decide(f, "aarch64", "getpid"), "ALLOW");
  assert.equal(decide(f, "arm", "getpid"), "ALLOW");
  assert.equal(decide(f, "arm", "cacheflush"), "ALLOW");
  assert.equal(decide(f, "arm", "open"), "ALLOW");
  assert.equal(decide(f, "x86_64", "getpid"), "KILL_THREAD");
});

Deno.test("compileFilter() reaches targets more than 255 instructions away", () => {
  // One conditional rule on each of 200 calls: every leaf of the search tree
  // jumps into the blocks after it, many of them far.
  const names = Object.keys(X86_64).slice(0, 200);
  const f = compile({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: names.map((n, i) => ({
      names: [n],
      action: "SCMP_ACT_ALLOW",
      args: [arg(1, "SCMP_CMP_EQ", BigInt(i + 1000))],
    })),
  });
  const insns = decodeFilter(f.program);
  assert.ok(f.instructions > 1000, `${f.instructions} instructions`);
  const far = insns.filter((i) => i.code === (BPF.JMP | BPF.JA) && i.k > 255);
  assert.ok(far.length > 0, "some JA trampolines span more than 255 instructions");
  names.forEach((n, i) => {
    assert.equal(decide(f, "x86_64", n, 0, i + 1000), "ALLOW", n);
    assert.equal(decide(f, "x86_64", n, 0, i + 1001), "ERRNO(1)", n);
  });
});

Deno.test("Asm: a conditional jump over 300 instructions goes through a trampoline", () => {
  const a = new Asm();
  const far = a.label(), near = a.label();
  a.stmt(BPF.LD | BPF.W | BPF.ABS, 0);
  a.jump(BPF.JMP | BPF.JEQ | BPF.K, 7, far, near);
  a.bind(near);
  for (let i = 0; i < 300; i++) a.stmt(BPF.LD | BPF.W | BPF.ABS, 4);
  a.stmt(BPF.RET | BPF.K, 1);
  a.bind(far);
  a.stmt(BPF.LD | BPF.W | BPF.ABS, 8);
  a.stmt(BPF.RET | BPF.K, 2);
  const insns = a.assemble();
  assert.deepEqual(verifyFilter(insns), []);
  assert.equal(insns.length, 306);
  assert.deepEqual(insns[2], { code: BPF.JMP | BPF.JA, jt: 0, jf: 0, k: 301 });
  assert.equal(runFilter(insns, { nr: 7, arch: 0, args: [] }), 2);
  assert.equal(runFilter(insns, { nr: 8, arch: 0, args: [] }), 1);
});

Deno.test("compileFilter() refuses an action the kernel lacks and a program the kernel would", () => {
  const p: OciSeccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["getpid"], action: "SCMP_ACT_LOG" }],
  };
  assert.throws(
    () => compileFilter(p, { ...X86, kernelActions: ["kill_thread", "errno", "allow"] }),
    (e: Error) =>
      e.message === "Cannot compile the seccomp profile: SCMP_ACT_LOG needs the seccomp " +
          "action log, which this kernel lacks (it has: kill_thread errno allow)",
  );
  compile(p, { ...X86, kernelActions: ["kill_thread", "log", "allow"] });
  const huge: OciSeccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: Array.from({ length: 400 }, (_, i) => ({
      names: ["ioctl"],
      action: "SCMP_ACT_ALLOW" as const,
      args: [1, 2, 3, 4, 5].map((n) => arg(n, "SCMP_CMP_EQ", BigInt(i))),
    })),
  };
  assert.throws(
    () => compileFilter(huge, X86),
    /^SeccompCompileError: Cannot compile the seccomp profile: the filter needs \d+ instructions, the kernel takes at most 4096$/,
  );
});

Deno.test("compileFilter() sets the filter flags as runc does", () => {
  const flags = (f?: OciSeccomp["flags"]) =>
    compile({ defaultAction: "SCMP_ACT_ALLOW", ...(f ? { flags: f } : {}) }).flags;
  assert.equal(flags(), SECCOMP_FILTER_FLAG.SPEC_ALLOW, "absent: SPEC_ALLOW");
  assert.equal(flags([]), 0);
  assert.equal(
    flags(["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"]),
    SECCOMP_FILTER_FLAG.LOG,
    "TSYNC is ignored",
  );
  assert.equal(
    flags(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_NEW_LISTENER"]),
    SECCOMP_FILTER_FLAG.WAIT_KILLABLE_RECV | SECCOMP_FILTER_FLAG.NEW_LISTENER,
  );
});

const PODMAN = "/usr/share/containers/seccomp.json";
const podman = (() => {
  try {
    return Deno.readTextFileSync(PODMAN);
  } catch {
    return undefined;
  }
})();

Deno.test({
  name: podman
    ? "compileFilter() compiles podman's profile for x86_64 and aarch64"
    : "compileFilter() compiles podman's profile [skipped: no /usr/share/containers/seccomp.json (containers-common)]",
  ignore: !podman,
  fn() {
    const caps = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "NET_BIND_SERVICE"];
    for (const arch of ["x86_64", "aarch64"] as const) {
      const f = compile(parseProfileText(podman!, { caps, arch }), { arch });
      const abi = arch;
      // podman's default is ENOSYS, its explicit refusals EPERM.
      assert.equal(decide(f, abi, "read"), "ALLOW");
      assert.equal(decide(f, abi, "mount"), "ALLOW", "podman leaves mount to capabilities");
      assert.equal(decide(f, abi, "bpf"), "ERRNO(1)");
      assert.equal(decide(f, abi, "kexec_load"), "ERRNO(1)");
      assert.equal(decide(f, abi, "socket", 2, 1, 0), "ALLOW");
      assert.equal(
        decide(f, abi, "socket", 16, 3, 9),
        "ERRNO(22)",
        "NETLINK_AUDIT without CAP_AUDIT_WRITE",
      );
      assert.equal(decide(f, abi, "personality", 0), "ALLOW");
      assert.equal(decide(f, abi, "personality", 0x400000), "ERRNO(38)");
      assert.equal(decide(f, abi, 440 + 100), "ERRNO(38)", "a call the profile never names");
    }
  },
});
