/**
 * The C library symbols ctr binds: only what it needs before its own native
 * stub exists (memory mapping) plus the helpers that have no raw-syscall form.
 * Every other system call goes through the stub's raw `ctr_syscall`, which
 * returns -errno directly, so errno is never read from thread-local state.
 * @module
 */

import { SyscallError } from "./errno.ts";

const SYMBOLS = {
  /** void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) */
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  /** int munmap(void *addr, size_t len) */
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  /** int mprotect(void *addr, size_t len, int prot) */
  mprotect: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  /** int *__errno_location(void): read right after a failed call above */
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/** The bound C library (opened on first use). */
export function libc(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  lib ??= open();
  return lib.symbols;
}

function open(): Deno.DynamicLibrary<typeof SYMBOLS> {
  try {
    return Deno.dlopen("libc.so.6", SYMBOLS);
  } catch {
    // musl hosts name theirs libc.so (ld-musl provides it).
    try {
      return Deno.dlopen("libc.so", SYMBOLS);
    } catch {
      throw new Error("Cannot load the C library: neither libc.so.6 nor libc.so was found");
    }
  }
}

/** errno as the C library left it for the calling thread. */
export function lastErrno(): number {
  const p = libc().__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

/** mmap(2) protection and flag bits. */
export const PROT = { READ: 1, WRITE: 2, EXEC: 4 } as const;
/** mmap(2) flags. */
export const MAP = { PRIVATE: 2, ANONYMOUS: 0x20, NORESERVE: 0x4000, STACK: 0x20000 } as const;

/** mmap(2) of `size` bytes of private anonymous read-write memory; throws SyscallError naming `what`. */
export function mapAnonymous(size: number, what: string): Deno.PointerObject {
  const p = libc().mmap(
    null,
    BigInt(size),
    PROT.READ | PROT.WRITE,
    MAP.PRIVATE | MAP.ANONYMOUS,
    -1,
    0n,
  );
  if (p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) {
    throw new SyscallError("mmap", lastErrno(), what);
  }
  return p;
}
