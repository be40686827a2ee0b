/**
 * The default filter without the compiler: ctr's default profile compiled
 * ahead of time for docker's 14 default capabilities
 * (lib/runtime/seccomp/default_filter_data.ts, written by
 * scripts/gen_default_filter.ts). Most containers run with exactly those,
 * and compiling in a fresh process costs about 20 ms of loading and V8
 * warm-up (the syscall tables, the profile, the compiler) against well
 * under a millisecond here.
 * @module
 */

import type { Arch } from "../../../ffi/syscalls.ts";
import type { CompiledFilter } from "./compile.ts";
import { DEFAULT_FILTER_CAPS, DEFAULT_FILTERS } from "./default_filter_data.ts";

/** Base64 to bytes, natively (a loop over atob's string is slow before the JIT warms up). */
function fromBase64(s: string): Uint8Array {
  return (Uint8Array as unknown as { fromBase64(s: string): Uint8Array }).fromBase64(s);
}

/**
 * The compiled default filter for a container whose capability set is
 * docker's default (names with or without CAP_, any order), or undefined
 * for any other set: then compile defaultProfile(caps, arch).
 */
export function precompiledDefaultFilter(
  caps: readonly string[],
  arch: Arch,
): CompiledFilter | undefined {
  const set = new Set(caps.map((c) => c.toUpperCase().replace(/^CAP_/, "")));
  if (set.size !== DEFAULT_FILTER_CAPS.length || !DEFAULT_FILTER_CAPS.every((c) => set.has(c))) {
    return undefined;
  }
  const f = DEFAULT_FILTERS[arch];
  return {
    program: fromBase64(f.program),
    instructions: f.instructions,
    flags: f.flags,
    notify: false,
    abis: f.abis,
    skipped: f.skipped,
  };
}
