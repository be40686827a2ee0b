/**
 * The instructions of a Dockerfile as typed values: one interface per
 * instruction (a discriminated union on `kind`), each with its first and
 * last line, its column and its source text. What the parser
 * (dockerfile.ts) produces and the rest of the build consumes. Pure.
 * @module
 */

/** The escape character of a Dockerfile. */
export type EscapeChar = "\\" | "`";

/** A heredoc attached to an instruction. */
export interface Heredoc {
  /** The delimiter word, quotes removed: also the file name for COPY/ADD. */
  readonly name: string;
  /** The body as written, each line with its newline (tabs not yet stripped for `<<-`). */
  readonly content: string;
  /** Whether the builder substitutes variables in the content (an unquoted delimiter). */
  readonly expand: boolean;
  /** `<<-`: leading tabs are stripped from every line. */
  readonly chomp: boolean;
  /** The file descriptor written before `<<` (`3<<EOF`), 0 when none. */
  readonly fd: number;
}

/** A heredoc's text as used: with leading tabs stripped for `<<-`. */
export function heredocText(h: Pick<Heredoc, "content" | "chomp">): string {
  return h.chomp ? h.content.replace(/^\t+/gm, "") : h.content;
}

/** A command in shell form (a string for the shell) or exec form (an argv). */
export type CommandLine =
  | { readonly form: "shell"; readonly text: string }
  | { readonly form: "exec"; readonly args: readonly string[] };

/** One `key=value` of ENV or LABEL; `legacy` for the `ENV key value` form. */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
  readonly legacy: boolean;
}

/** An inline file of COPY/ADD (`COPY <<EOF /dest`). */
export interface SourceContent {
  /** The file name (the heredoc's delimiter). */
  readonly path: string;
  /** Its content, tabs already stripped for `<<-`. */
  readonly data: string;
  /** Whether variables are substituted in it. */
  readonly expand: boolean;
}

/** What every instruction carries. */
export interface Located {
  /** First line (1-based). */
  readonly line: number;
  /** Last line, heredoc bodies included. */
  readonly endLine: number;
  /** Column of the instruction's first character (1-based). */
  readonly column: number;
  /** The instruction as written, continuations joined, trimmed (no heredoc bodies). */
  readonly source: string;
}

/** `FROM [--platform=P] image [AS name]`. */
export interface FromInstruction extends Located {
  readonly kind: "FROM";
  readonly image: string;
  /** The stage name, lower-cased. */
  readonly stage?: string;
  readonly platform?: string;
}
/** `RUN [--mount=...] [--network=...] [--security=...] command`. */
export interface RunInstruction extends Located {
  readonly kind: "RUN";
  readonly command: CommandLine;
  readonly heredocs: readonly Heredoc[];
  /** The `--mount` values as written (parseRunMount after substitution). */
  readonly mounts: readonly string[];
  /** `default`, `none` or `host`. */
  readonly network: string;
  /** `sandbox` or `insecure`. */
  readonly security: string;
  /** `--device` values as written. */
  readonly devices: readonly string[];
}
/** `CMD`. */
export interface CmdInstruction extends Located {
  readonly kind: "CMD";
  readonly command: CommandLine;
}
/** `ENTRYPOINT`. */
export interface EntrypointInstruction extends Located {
  readonly kind: "ENTRYPOINT";
  readonly command: CommandLine;
}
/** `SHELL ["exe", "arg"]` (exec form only). */
export interface ShellInstruction extends Located {
  readonly kind: "SHELL";
  readonly shell: readonly string[];
}
/** `LABEL k=v ...`. */
export interface LabelInstruction extends Located {
  readonly kind: "LABEL";
  readonly pairs: readonly KeyValue[];
}
/** `MAINTAINER name` (deprecated: sets the config's author). */
export interface MaintainerInstruction extends Located {
  readonly kind: "MAINTAINER";
  readonly maintainer: string;
}
/** `EXPOSE port[/proto] ...`. */
export interface ExposeInstruction extends Located {
  readonly kind: "EXPOSE";
  readonly ports: readonly string[];
}
/** `ENV k=v ...` or `ENV k v`. */
export interface EnvInstruction extends Located {
  readonly kind: "ENV";
  readonly pairs: readonly KeyValue[];
}
/** What COPY and ADD share. */
interface CopyCommon extends Located {
  /** Source paths (or URLs for ADD) as written. */
  readonly sources: readonly string[];
  /** Heredoc sources. */
  readonly contents: readonly SourceContent[];
  readonly dest: string;
  readonly chown?: string;
  readonly chmod?: string;
  readonly link: boolean;
  /** `--exclude` patterns. */
  readonly exclude: readonly string[];
  /** Written in exec (JSON) form. */
  readonly json: boolean;
}
/** `ADD`. */
export interface AddInstruction extends CopyCommon {
  readonly kind: "ADD";
  readonly checksum?: string;
  readonly keepGitDir?: boolean;
  /** `--unpack`: undefined means docker's default (local archives unpack, URLs do not). */
  readonly unpack?: boolean;
}
/** `COPY`. */
export interface CopyInstruction extends CopyCommon {
  readonly kind: "COPY";
  /** `--from=stage|index|image`. */
  readonly from?: string;
  readonly parents: boolean;
}
/** `VOLUME`. */
export interface VolumeInstruction extends Located {
  readonly kind: "VOLUME";
  readonly paths: readonly string[];
}
/** `USER user[:group]`. */
export interface UserInstruction extends Located {
  readonly kind: "USER";
  readonly user: string;
}
/** `WORKDIR path`. */
export interface WorkdirInstruction extends Located {
  readonly kind: "WORKDIR";
  readonly path: string;
}
/** One declaration of ARG. */
export interface ArgDeclaration {
  readonly name: string;
  /** The default as written (quotes and variables not processed yet). */
  readonly value?: string;
}
/** `ARG name[=default] ...`. */
export interface ArgInstruction extends Located {
  readonly kind: "ARG";
  readonly args: readonly ArgDeclaration[];
}
/** `ONBUILD INSTRUCTION`: stored as text in the image config. */
export interface OnbuildInstruction extends Located {
  readonly kind: "ONBUILD";
  /** The trigger as the image config stores it (heredoc bodies appended). */
  readonly expression: string;
  /** The trigger, parsed. */
  readonly trigger: Instruction;
}
/** `STOPSIGNAL signal`. */
export interface StopsignalInstruction extends Located {
  readonly kind: "STOPSIGNAL";
  readonly signal: string;
}
/** The image config's Healthcheck, durations in nanoseconds (0: the default). */
export interface HealthConfig {
  /** `["NONE"]`, `["CMD", ...argv]` or `["CMD-SHELL", command]`. */
  readonly Test: readonly string[];
  readonly Interval?: number;
  readonly Timeout?: number;
  readonly StartPeriod?: number;
  readonly StartInterval?: number;
  readonly Retries?: number;
}
/** `HEALTHCHECK [--interval=...] CMD ...` or `HEALTHCHECK NONE`. */
export interface HealthcheckInstruction extends Located {
  readonly kind: "HEALTHCHECK";
  readonly health: HealthConfig;
}

/** Any instruction. */
export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ShellInstruction
  | LabelInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | EnvInstruction
  | AddInstruction
  | CopyInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | ArgInstruction
  | OnbuildInstruction
  | StopsignalInstruction
  | HealthcheckInstruction;

/** The instruction names, upper case. */
export const INSTRUCTIONS = [
  "ADD",
  "ARG",
  "CMD",
  "COPY",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "FROM",
  "HEALTHCHECK",
  "LABEL",
  "MAINTAINER",
  "ONBUILD",
  "RUN",
  "SHELL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
] as const;
