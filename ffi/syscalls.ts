/**
 * System call numbers per architecture, from the tables that
 * scripts/gen_syscall_tables.sh generates out of the kernel headers
 * (ffi/syscall_table/). x86_64 has its own table; aarch64 uses the generic
 * one (asm-generic/unistd.h). Numbers from 424 on are the same everywhere.
 * @module
 */

import { AARCH64 } from "./syscall_table/aarch64.ts";
import { X86_64 } from "./syscall_table/x86_64.ts";

/**
 * A system call both 64-bit architectures have, by name: a plan step may
 * name any of them (calls only one architecture has, such as x86_64's
 * `open` or `arch_prctl`, are left out so that a plan runs on both).
 */
export type SyscallName = keyof typeof X86_64 & keyof typeof AARCH64;

/** The CPU architectures ctr has syscall tables and a native stub for. */
export type Arch = "x86_64" | "aarch64";

/** Syscall tables by architecture. */
export const SYSCALLS: Record<Arch, Readonly<Record<SyscallName, number>>> = {
  x86_64: X86_64,
  aarch64: AARCH64,
};

/** The architecture this process runs on. */
export function hostArch(): Arch {
  const a = Deno.build.arch;
  if (a === "x86_64" || a === "aarch64") return a;
  throw new Error(`Unsupported architecture: ${a}`);
}

/** The syscall number of `name` on `arch` (default: this host). */
export function sysno(name: SyscallName, arch: Arch = hostArch()): number {
  return SYSCALLS[arch][name];
}
