/**
 * The plan step that installs a compiled filter:
 * seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog), with struct sock_fprog
 * and the program it points to placed in the executor's C memory.
 *
 * Order in a plan: the kernel takes a filter from a process that has
 * no_new_privs set or holds CAP_SYS_ADMIN, and every step after this one
 * runs under the filter (the execve tries, and on failure the executor's
 * write to its error pipe and exit_group). So, as runc: with no_new_privs,
 * install it last, right before execve; without, before the capabilities
 * are dropped, and then the remaining steps' calls must be allowed.
 * @module
 */

import { flagNames } from "../../../ffi/constants.ts";
import { FPROG_FILTER_OFFSET, SECCOMP_FILTER_FLAG, sockFprog } from "../../../ffi/seccomp.ts";
import { int, type Slot, slot, type Step } from "../plan.ts";
import type { CompiledFilter } from "./compile.ts";

/** Where the listener fd of a SCMP_ACT_NOTIFY filter is saved, unless the caller names a slot. */
export const LISTENER_SLOT: Slot = slot("seccomp_listener");

/** Options of seccompSteps. */
export interface SeccompStepOptions {
  /** The slot the listener fd goes to when the filter notifies (default LISTENER_SLOT). */
  readonly listener?: Slot;
}

/**
 * The steps that install `compiled` (one seccomp(2) call). When the filter
 * has SCMP_ACT_NOTIFY rules, the call returns a listener fd (O_CLOEXEC) and
 * the step saves it in a slot: the parent can take it with
 * pidfd_getfd(pidfd, fd) at a sync point placed after this step, before
 * the child execs.
 */
export function seccompSteps(compiled: CompiledFilter, opts: SeccompStepOptions = {}): Step[] {
  const n = compiled.instructions;
  const flags = compiled.flags;
  return [{
    call: "seccomp",
    args: [
      int(1, "SECCOMP_SET_MODE_FILTER"),
      int(flags, () => flagNames(flags, SECCOMP_FILTER_FLAG, "SECCOMP_FILTER_FLAG_")),
      {
        bytes: sockFprog(n),
        show: `{len=${n}, filter=[${n} instructions]}`,
        pointers: [{ at: FPROG_FILTER_OFFSET, to: compiled.program }],
      },
    ],
    label: `install the seccomp filter (${n} instructions)`,
    ...(compiled.notify ? { save: opts.listener ?? LISTENER_SLOT } : {}),
    hints: {
      EACCES: "no_new_privs is not set and CAP_SYS_ADMIN is gone: " +
        "set no_new_privs first, or install the filter before dropping capabilities",
      EINVAL: "this kernel rejects a flag " +
        `(${flagNames(flags, SECCOMP_FILTER_FLAG, "SECCOMP_FILTER_FLAG_")}) or the program`,
      EBUSY: "another listener is already installed in this process",
    },
  }];
}
