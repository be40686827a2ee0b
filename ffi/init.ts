/**
 * The init of containers run with `--init` (ffi/init/init.c, bytes in
 * init_code.ts): a static executable of about 2.5 KB that the container's
 * plan writes into a memfd and executes as PID 1, with the command as its
 * child; it passes signals on, reaps orphans and exits with the command's
 * code. See init.c for the contract.
 * @module
 */

import { INIT_ELF_B64 } from "./init_code.ts";
import { elfFor } from "./static_elf.ts";

/** The init executable for `arch` (default: this host). */
export function initElf(arch: string = Deno.build.arch): Uint8Array {
  return elfFor(INIT_ELF_B64, arch, "container init");
}

/** The init's argv before the command: its name, and the end of its own options. */
export const INIT_ARGV0: readonly string[] = ["ctr-init", "--"];
