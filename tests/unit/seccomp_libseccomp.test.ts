/**
 * ctr's compiled filters against libseccomp's (runc's and crun's compiler)
 * for the same profiles: both programs run in the interpreter must answer
 * every sample call alike. Needs gcc and libseccomp-dev.
 */
import assert from "node:assert/strict";
import { X86_64 } from "../../ffi/syscall_table/x86_64.ts";
import { DEFAULT_CAPS } from "../../lib/runtime/capabilities.ts";
import { compileFilter } from "../../lib/runtime/seccomp/compile.ts";
import { defaultProfile } from "../../lib/runtime/seccomp/default.ts";
import { type OciSeccomp, type OciSyscall, OPERATORS } from "../../lib/runtime/seccomp/profile.ts";
import { buildExporter, disagreements, exportLibseccomp } from "../../scripts/_libseccomp.ts";
import { tempDir } from "../_helpers.ts";

const exporter = buildExporter(tempDir());

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: exporter ? name : `${name} [skipped: needs gcc and libseccomp-dev]`,
    ignore: !exporter,
    fn,
  });
}

async function agree(p: OciSeccomp, arch: "x86_64" | "aarch64", args?: bigint[]): Promise<void> {
  const ours = compileFilter(p, { arch });
  for (const optimize of [1, 2]) {
    const theirs = await exportLibseccomp(exporter!, p, { arch, optimize });
    assert.deepEqual(disagreements(ours, theirs, args).slice(0, 10), [], `optimize ${optimize}`);
  }
}

test("compileFilter() decides ctr's default profile as libseccomp does", async () => {
  for (const arch of ["x86_64", "aarch64"] as const) {
    for (const caps of [DEFAULT_CAPS, [...DEFAULT_CAPS, "SYS_ADMIN"], []]) {
      await agree(defaultProfile(caps, arch), arch);
    }
  }
});

test("compileFilter() compares 64-bit arguments as libseccomp does, on 64- and 32-bit ABIs", async () => {
  const values = [
    0n,
    5n,
    0xffffffffn,
    0x100000000n,
    0x100000005n,
    0xffffffff00000000n,
    0xfffffffffffffffen,
  ];
  const ops = OPERATORS.filter((op) => op !== "SCMP_CMP_MASKED_EQ");
  // Calls every x86 ABI makes directly: libseccomp rewrites rules on socket and
  // IPC calls into socketcall()/ipc() ones for i386, which ctr does not.
  const multiplexed =
    /^(socket|connect|accept|send|recv|shutdown|bind|listen|get(sock|peer)|setsock|sem|shm|msg)/;
  const names = Object.keys(X86_64).filter((n) => !multiplexed.test(n));
  const syscalls: OciSyscall[] = [];
  for (const op of ops) {
    for (const v of values) {
      syscalls.push({
        names: [names[syscalls.length]],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, op, value: v, valueTwo: 0n }],
      });
    }
  }
  for (
    const [mask, datum] of [[0x7e020000n, 0n], [0xffffffff00000000n, 0x100000000n], [0xffn, 5n]]
  ) {
    syscalls.push({
      names: [names[syscalls.length]],
      action: "SCMP_ACT_ERRNO",
      errnoRet: 13,
      args: [{ index: 1, op: "SCMP_CMP_MASKED_EQ", value: mask, valueTwo: datum }],
    });
  }
  // Two conditions on different arguments, ANDed by both.
  syscalls.push({
    names: [names[syscalls.length]],
    action: "SCMP_ACT_LOG",
    args: [
      { index: 0, op: "SCMP_CMP_GT", value: 4n, valueTwo: 0n },
      { index: 1, op: "SCMP_CMP_LE", value: 0x100000005n, valueTwo: 0n },
    ],
  });
  const profile: OciSeccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    syscalls,
  };
  await agree(profile, "x86_64", [...values, 4n, 6n, 0x100000004n, 0x100000006n, 0x7e020000n]);
});
