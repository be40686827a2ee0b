/**
 * The shape of ctr's command table (commands.ts): what the table, the
 * completion scripts and the flags table share, types only.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import type { OptionSpec } from "./args.ts";

/** What a command's arguments name, for completion. */
export type ArgKind = "container" | "image" | "network" | "volume" | "file" | "none";

/** Runs a command line (after the global options): main.ts's dispatch. */
export type Dispatch = (cmd: string, argv: readonly string[], g: Globals) => Promise<number>;

/** One command or subcommand. */
export interface CommandSpec {
  readonly name: string;
  readonly aliases?: readonly string[];
  /** One line: what it does. */
  readonly summary: string;
  /** What follows the command's name in its usage line. */
  readonly usage: string;
  /** What the arguments name (completion offers those). */
  readonly args?: ArgKind;
  /** The option table, from the module that parses it. */
  readonly options?: () => Promise<readonly OptionSpec[]>;
  readonly subcommands?: readonly CommandSpec[];
  /** Runs it; commands without are run by main.ts (or, with `routes`, as another command). */
  readonly run?: (argv: readonly string[], g: Globals) => Promise<number>;
  /** A management subcommand that is another command: `container ls` is `ps`. */
  readonly routes?: readonly string[];
  /** Listed under "Management Commands" in help. */
  readonly management?: boolean;
  /** Internal, or not listed in help. */
  readonly hidden?: boolean;
}
