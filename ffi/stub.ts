/**
 * Loads the native plan executor (ffi/stub/*.S, bytes in stub_code.ts) into an
 * executable page and binds its two entry points:
 *   ctr_syscall(nr, a0..a5) → raw result (-errno on failure)
 *   ctr_spawn(ctx)          → clone; the child runs the plan, no JavaScript
 * @module
 */

import { lastErrno, libc, mapAnonymous, PROT } from "./libc.ts";
import { SyscallError } from "./errno.ts";
import { hostArch } from "./syscalls.ts";
import { STUB_HEX } from "./stub_code.ts";

/** Offset of ctr_spawn in the stub. */
const SPAWN_OFFSET = 64;

/**
 * Byte offsets in `struct ctx`, the argument of ctr_spawn (ffi/stub/*.S):
 * `{ u64 flags; u64 stack; u64 plan; u64 count; u64 errfd; u64 pidfd;
 * u64 mask_all; u64 mask_saved; u64 clone_args; }`.
 */
export const CTX = {
  flags: 0,
  stack: 8,
  plan: 16,
  count: 24,
  errfd: 32,
  /** Where clone (or clone3 through clone_args.pidfd) stores the child's pidfd. */
  pidfd: 40,
  /** The mask blocked around clone (all signals). */
  maskAll: 48,
  /** The parent's mask, restored after clone. */
  maskSaved: 56,
  /** The address of a struct clone_args for clone3, or 0 for clone. */
  cloneArgs: 64,
  size: 72,
} as const;

/**
 * One plan entry, `struct entry` (96 bytes): `{ u64 nr; u64 a[6]; i64 tol1;
 * i64 tol2; u64 flags; u64 save; u64 jump; }`.
 */
export const ENTRY = {
  nr: 0,
  args: 8,
  tol1: 56,
  tol2: 64,
  flags: 72,
  save: 80,
  /** With FORK: how many entries on the parent side goes on (0: it exits 0). */
  jump: 88,
  size: 96,
  /** flags: a fork; its parent side (result > 0) exits 0, or jumps. */
  FORK: 1n,
  /** flags: a result of 0 is a failure (EOF on the sync pipe). */
  EXPECT: 2n,
  /** flags: bit 8+i says a[i] holds the address of the real argument. */
  INDIRECT_SHIFT: 8n,
} as const;

const SYSCALL_DEF = {
  parameters: ["i64", "i64", "i64", "i64", "i64", "i64", "i64"],
  result: "i64",
} as const;

interface Stub {
  call: Deno.UnsafeFnPointer<typeof SYSCALL_DEF>;
  callAsync: Deno.UnsafeFnPointer<typeof SYSCALL_DEF & { nonblocking: true }>;
  spawn: Deno.UnsafeFnPointer<{ parameters: ["i64"]; result: "i64" }>;
}

let stub: Stub | undefined;

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function load(): Stub {
  const arch = hostArch();
  const hex = STUB_HEX[arch];
  if (!hex) throw new Error(`No native stub for ${arch}`);
  const code = hexBytes(hex);
  const size = 4096;
  const page = mapAnonymous(size, "stub page");
  new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(page, size)).set(code);
  // Written, then made executable: W^X hosts refuse a page that is both.
  if (libc().mprotect(page, BigInt(size), PROT.READ | PROT.EXEC) !== 0) {
    throw new SyscallError("mprotect", lastErrno(), "stub page");
  }
  // deno-lint-ignore no-explicit-any
  const code0 = page as Deno.PointerObject<any>;
  // deno-lint-ignore no-explicit-any
  const spawnPtr = Deno.UnsafePointer.offset(page, SPAWN_OFFSET) as Deno.PointerObject<any>;
  return {
    call: new Deno.UnsafeFnPointer(code0, SYSCALL_DEF),
    callAsync: new Deno.UnsafeFnPointer(code0, { ...SYSCALL_DEF, nonblocking: true }),
    spawn: new Deno.UnsafeFnPointer(spawnPtr, { parameters: ["i64"], result: "i64" }),
  };
}

/** An argument of a raw system call: an integer or an address. */
export type Word = number | bigint;

/**
 * The stub's functions as the FFI takes them: a number or a BigInt for each
 * i64 (Deno's types say BigInt only; a number costs no allocation).
 */
interface RawFn<R = number | bigint> {
  call(...args: Word[]): R;
}

/** Raw system call on the calling thread; returns the kernel's result (-errno on error). */
export function rawSyscall(
  nr: number,
  a0: Word = 0,
  a1: Word = 0,
  a2: Word = 0,
  a3: Word = 0,
  a4: Word = 0,
  a5: Word = 0,
): number {
  stub ??= load();
  // Numbers as they are (the FFI takes a number or a BigInt for an i64), and no spread: a call
  // costs a few microseconds this way, where BigInts and spreads made it 10-15.
  const r = (stub.call as unknown as RawFn).call(nr, a0, a1, a2, a3, a4, a5);
  return typeof r === "bigint" ? Number(BigInt.asIntN(64, r)) : r;
}

/** Raw system call on a worker thread, for calls that block (read, waitid). */
export async function rawSyscallAsync(nr: number, ...args: Word[]): Promise<number> {
  stub ??= load();
  const r = await (stub.callAsync as unknown as RawFn<Promise<number | bigint>>).call(
    nr,
    args[0] ?? 0,
    args[1] ?? 0,
    args[2] ?? 0,
    args[3] ?? 0,
    args[4] ?? 0,
    args[5] ?? 0,
  );
  return typeof r === "bigint" ? Number(BigInt.asIntN(64, r)) : r;
}

/** ctr_spawn(ctx): returns the child's pid or -errno. */
export function rawSpawn(ctx: bigint): number {
  stub ??= load();
  const r = stub.spawn.call(BigInt(ctx));
  return typeof r === "bigint" ? Number(BigInt.asIntN(64, r)) : r;
}
