/** Helpers for the seccomp tests: run a compiled filter on one call of one ABI. */
import assert from "node:assert/strict";
import { retName, runFilter, verifyFilter } from "../../lib/runtime/seccomp/bpf_interp.ts";
import {
  type Abi,
  auditArch,
  type CompiledFilter,
  syscallTable,
} from "../../lib/runtime/seccomp/compile.ts";

/** The number of `call` on `abi` (a name from its table, or a number as is). */
export function nr(abi: Abi, call: string | number): number {
  if (typeof call === "number") return call;
  const n = syscallTable(abi)[call];
  assert.ok(n !== undefined, `${abi} has no ${call}`);
  return n;
}

/** What the filter answers, by name ("ALLOW", "ERRNO(1)", ...). */
export function decide(
  f: CompiledFilter,
  abi: Abi,
  call: string | number,
  ...args: (number | bigint)[]
): string {
  return retName(
    runFilter(f.program, { nr: nr(abi, call), arch: auditArch(abi), args: args.map(BigInt) }),
  );
}

/** Asserts the kernel would load the program. */
export function assertLoadable(f: CompiledFilter): void {
  assert.deepEqual(verifyFilter(f.program), []);
  assert.equal(f.program.length, f.instructions * 8);
}
