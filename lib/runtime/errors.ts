/**
 * Errors that end a command with docker's exit codes: 125 when ctr itself
 * fails, 126 when the command cannot be executed, 127 when it is not found.
 * @module
 */

import { errnoName } from "../../ffi/errno.ts";
import type { PlanError } from "./plan.ts";

/** An error that ends `ctr run` (or exec, enter) with a docker exit code. */
export class RunError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = "RunError";
  }
}

/**
 * A failed execve of `cmd` as docker words it: 127 when it is not found
 * (along PATH, or at its path), 126 when it is there but cannot be executed.
 * Undefined when the failed step is not the exec.
 */
export function execFailure(e: PlanError, cmd: string): RunError | undefined {
  if (e.step.call !== "execve") return undefined;
  if (errnoName(e.errno) === "ENOENT") {
    return new RunError(
      cmd.includes("/")
        ? `exec: ${JSON.stringify(cmd)}: no such file or directory`
        : `exec: ${JSON.stringify(cmd)}: executable file not found in $PATH`,
      127,
    );
  }
  return new RunError(
    `exec: ${JSON.stringify(cmd)}: ${e.message.replace(/^.*?: execve: /, "")}`,
    126,
  );
}

/**
 * A failed plan step as a RunError: the exec's codes, else `code` (125 for
 * a container's setup) with the step's words after `what`.
 */
export function planFailure(e: PlanError, cmd: string, what: string, code = 125): RunError {
  return execFailure(e, cmd) ?? new RunError(`${what}: ${e.message}`, code);
}
