/**
 * The Dockerfile parser: text to a typed list of instructions, with docker's
 * rules (the reference, and BuildKit's parser where the reference is silent):
 *
 * - parser directives (`# syntax=`, `# escape=`, `# check=`) only at the very
 *   top: the first line that is not one (an instruction, a comment, an empty
 *   line, an unknown directive) ends them; a repeated one is an error;
 * - the escape character (`\` or a backtick) at the end of a line continues
 *   the instruction; comment lines inside a continuation are dropped, empty
 *   ones too (with a warning, as docker);
 * - heredocs for RUN, COPY and ADD (also under ONBUILD): `<<EOF`, `<<-EOF`
 *   (leading tabs stripped), `<<"EOF"`/`<<'EOF'` (content not expanded),
 *   several on one line, each body following in order;
 * - exec form (a JSON array of strings) and shell form; `--flag=value`
 *   options before the arguments, checked per instruction;
 * - every instruction keeps its first and last line and its column.
 *
 * Variables are not substituted here (see expand.ts): they depend on the
 * stage, on build arguments and on the base image. Pure: no I/O.
 * @module
 */

import { closest } from "../../suggest.ts";
import { expand, ExpandError } from "./expand.ts";

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

/** A parser warning, at a line. */
export interface ParseWarning {
  readonly line: number;
  readonly message: string;
}

/** A parsed Dockerfile. */
export interface Dockerfile {
  readonly instructions: readonly Instruction[];
  /** The escape character in effect. */
  readonly escape: EscapeChar;
  /** Parser directives found at the top, by lower-case name (`syntax`, `escape`, `check`). */
  readonly directives: Readonly<Record<string, string>>;
  readonly warnings: readonly ParseWarning[];
}

/** A Dockerfile that cannot be parsed: `Dockerfile:12: unknown instruction: FOO`. */
export class DockerfileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
    readonly column?: number,
  ) {
    super(`${file}${line > 0 ? `:${line}${column ? `:${column}` : ""}` : ""}: ${detail}`);
    this.name = "DockerfileError";
  }
}

/** An error in one instruction; the parser adds the file and the line. */
class InstructionError extends Error {}

const DIRECTIVES = new Set(["syntax", "escape", "check"]);
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const WHITESPACE = /[\t\v\f\r ]+/;
const HEREDOC = /^(\d*)<<(-?)\s*([^<]*)$/;

function isSpace(ch: string): boolean {
  return /^\s$/u.test(ch);
}

/** Top-of-file directives: a state machine fed every line until the first that is not one. */
class DirectiveParser {
  done = false;
  readonly found: Record<string, string> = {};

  /** The directive on this line, if it is one (the line without its newline). */
  parse(line: string): [string, string] | undefined {
    if (this.done) return undefined;
    if (!line.startsWith("#")) {
      this.done = true;
      return undefined;
    }
    const m = line.slice(1).replace(/^\s+/, "").match(DIRECTIVE);
    const key = m?.[1].toLowerCase();
    if (!m || !key || !DIRECTIVES.has(key)) {
      this.done = true;
      return undefined;
    }
    if (key in this.found) {
      throw new InstructionError(`only one ${key} parser directive can be used`);
    }
    this.found[key] = m[2];
    return [key, m[2]];
  }
}

function trimNewline(s: string): string {
  return s.replace(/[\r\n]+$/, "");
}

function isComment(line: string): boolean {
  return /^\s*#/.test(line);
}

/** Lines with their endings; the last may have none. */
function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/**
 * The escape character at the end of a line (after optional blanks) continues
 * the instruction, unless the line is only that character preceded by another
 * escape; returns the line without it and whether the instruction ends here.
 */
function trimContinuation(line: string, escape: EscapeChar): [string, boolean] {
  const e = escape === "\\" ? "\\\\" : "`";
  const re = new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
  if (!re.test(line)) return [line, true];
  return [line.replace(re, "$1"), false];
}

/**
 * Splits off the leading `--flag` words (quotes and escapes processed);
 * returns them and the rest of the line.
 */
function extractFlags(line: string, escape: EscapeChar): [string[], string] {
  const flags: string[] = [];
  let phase: "space" | "word" | "quote" = "space";
  let word = "";
  let quote = "";
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const end = pos === line.length;
    let ch = end ? "" : line[pos];
    if (phase === "space") {
      if (end) break;
      if (isSpace(ch)) continue;
      if (ch !== "-" || line[pos + 1] !== "-") return [flags, line.slice(pos)];
      phase = "word";
    }
    if (end) {
      if (word !== "--" && (blankOK || word !== "")) flags.push(word);
      break;
    }
    if (phase === "word") {
      if (isSpace(ch)) {
        if (word === "--") return [flags, line.slice(pos)];
        if (blankOK || word !== "") flags.push(word);
        phase = "space";
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = "quote";
        continue;
      }
      if (ch === escape) {
        if (pos + 1 === line.length) continue;
        ch = line[++pos];
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      phase = "word";
      continue;
    }
    if (ch === escape) {
      if (pos + 1 === line.length) {
        phase = "word";
        continue;
      }
      ch = line[++pos];
    }
    word += ch;
  }
  return [flags, ""];
}

/**
 * Splits on white space keeping quotes and escapes in the words (they are
 * processed later, with substitution): the words of ENV, LABEL and ARG.
 */
function parseWords(rest: string, escape: EscapeChar): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let phase: "space" | "word" | "quote" = "space";
  let quote = "";
  let blankOK = false;
  let word = "";
  for (let pos = 0; pos <= chars.length; pos++) {
    const end = pos === chars.length;
    let ch = end ? "" : chars[pos];
    if (phase === "space") {
      if (end) break;
      if (isSpace(ch)) continue;
      phase = "word";
    }
    if (end) {
      if (blankOK || word !== "") words.push(word);
      break;
    }
    if (phase === "word") {
      if (isSpace(ch)) {
        phase = "space";
        if (blankOK || word !== "") words.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = "quote";
      }
      if (ch === escape) {
        if (pos + 1 === chars.length) continue;
        // Unquoted, an escape and what it escapes both stay in the word.
        word += ch;
        ch = chars[++pos];
      }
      word += ch;
      continue;
    }
    if (ch === quote) phase = "word";
    if (ch === escape && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = "word";
        continue;
      }
      word += ch;
      ch = chars[++pos];
    }
    word += ch;
  }
  return words;
}

function splitWhitespace(rest: string): string[] {
  return rest === "" ? [] : rest.split(WHITESPACE);
}

const NOT_STRINGS = "when using JSON array syntax, arrays must be comprised of strings only";

/** A JSON array of strings, or undefined when the text is not a JSON array. */
function parseJsonArray(rest: string): string[] | undefined {
  const t = rest.replace(/^\s+/, "");
  if (!t.startsWith("[")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (value.some((v) => typeof v !== "string")) throw new InstructionError(NOT_STRINGS);
  return value as string[];
}

function commandLine(rest: string): CommandLine {
  const args = parseJsonArray(rest);
  return args ? { form: "exec", args } : { form: "shell", text: rest };
}

/** `ENV`/`LABEL` pairs: `k=v k2="v 2"`, or the legacy `k value with spaces`. */
function parseKeyValues(rest: string, what: string, escape: EscapeChar): KeyValue[] {
  const words = parseWords(rest, escape);
  if (words.length === 0) throw new InstructionError(`${what} requires at least one argument`);
  let pairs: KeyValue[];
  if (!words[0].includes("=")) {
    const m = rest.match(/^([^\t\v\f\r ]+)[\t\v\f\r ]+([\s\S]*)$/);
    if (!m) throw new InstructionError(`${what} must have two arguments`);
    pairs = [{ key: m[1], value: m[2], legacy: true }];
  } else {
    pairs = words.map((w) => {
      const eq = w.indexOf("=");
      if (eq === -1) {
        throw new InstructionError(
          `Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`,
        );
      }
      return { key: w.slice(0, eq), value: w.slice(eq + 1), legacy: false };
    });
  }
  if (pairs.some((p) => p.key === "")) throw new InstructionError(`${what} names can not be blank`);
  return pairs;
}

/** A heredoc marker word (`<<EOF`, `<<-"EOF"`, `3<<EOF`), or undefined. */
export function parseHeredocMarker(
  word: string,
): Omit<Heredoc, "content"> | undefined {
  const m = word.match(HEREDOC);
  if (!m || m[3] === "") return undefined;
  let words: string[];
  let raw: string[];
  try {
    words = expand(m[3], new Map(), { skipUnset: true }).words;
    raw = expand(m[3], new Map(), { skipUnset: true, rawQuotes: true }).words;
  } catch (e) {
    if (e instanceof ExpandError) throw new InstructionError(e.message);
    throw e;
  }
  if (words.length !== 1) return undefined;
  const quotes = (s: string) => (s.match(/["']/g) ?? []).length;
  return {
    name: words[0],
    expand: quotes(words[0]) === quotes(raw[0]),
    chomp: m[2] === "-",
    fd: m[1] === "" ? 0 : Number(m[1]),
  };
}

/** The heredoc markers of an instruction line, in order. */
function heredocMarkers(line: string): Omit<Heredoc, "content">[] {
  let words: string[];
  try {
    words = expand(line, new Map(), { rawQuotes: true, rawEscapes: true, skipUnset: true }).words;
  } catch {
    return [];
  }
  return words.map(parseHeredocMarker).filter((h) => h !== undefined);
}

/** Flags of one instruction, checked as BuildKit's BFlags does. */
class Flags {
  readonly #kinds = new Map<string, "bool" | "string" | "strings">();
  readonly #values = new Map<string, string | boolean | string[]>();

  constructor(readonly raw: readonly string[]) {}

  bool(name: string): this {
    this.#kinds.set(name, "bool");
    return this;
  }

  string(name: string): this {
    this.#kinds.set(name, "string");
    return this;
  }

  strings(name: string): this {
    this.#kinds.set(name, "strings");
    return this;
  }

  parse(): this {
    for (const a of this.raw) {
      if (a === "--") break;
      if (!a.startsWith("--")) throw new InstructionError(`arg should start with -- : ${a}`);
      const eq = a.indexOf("=");
      const flag = eq === -1 ? a : a.slice(0, eq);
      const value = eq === -1 ? undefined : a.slice(eq + 1);
      const name = flag.slice(2);
      const kind = this.#kinds.get(name);
      if (!kind) {
        const near = closest(name, [...this.#kinds.keys()]);
        throw new InstructionError(
          `unknown flag: ${flag}${near ? ` (did you mean ${near}?)` : ""}`,
        );
      }
      if (this.#values.has(name) && kind !== "strings") {
        throw new InstructionError(`duplicate flag specified: ${flag}`);
      }
      if (kind === "bool") {
        if (value === "") throw new InstructionError(`missing a value on flag: ${flag}`);
        const v = (value ?? "true").toLowerCase();
        if (v !== "true" && v !== "false") {
          throw new InstructionError(`expecting boolean value for flag ${flag}, not: ${value}`);
        }
        this.#values.set(name, v === "true");
      } else {
        if (value === undefined) throw new InstructionError(`missing a value on flag: ${flag}`);
        if (kind === "string") this.#values.set(name, value);
        else this.#values.set(name, [...((this.#values.get(name) as string[]) ?? []), value]);
      }
    }
    return this;
  }

  get(name: string): string | undefined {
    return this.#values.get(name) as string | undefined;
  }

  has(name: string): boolean {
    return this.#values.has(name);
  }

  isTrue(name: string): boolean {
    return this.#values.get(name) === true;
  }

  list(name: string): string[] {
    return (this.#values.get(name) as string[]) ?? [];
  }
}

const GO_DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.ParseDuration, in nanoseconds: `30s`, `1m30s`, `1.5h`, `300ms`. */
export function parseGoDuration(text: string): number {
  const bad = () => new InstructionError(`time: invalid duration ${JSON.stringify(text)}`);
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    sign = s[0] === "-" ? -1 : 1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw bad();
  let total = 0;
  while (s !== "") {
    const m = s.match(/^(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/);
    if (!m || m[1] === "" || m[1] === ".") {
      throw m ? bad() : new InstructionError(
        /^\d*\.?\d*$/.test(s)
          ? `time: missing unit in duration ${JSON.stringify(text)}`
          : `time: invalid duration ${JSON.stringify(text)}`,
      );
    }
    total += Number(m[1]) * GO_DURATION_UNITS[m[2]];
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}

function interval(flags: Flags, name: string): number | undefined {
  const v = flags.get(name);
  if (v === undefined || v === "") return undefined;
  const ns = parseGoDuration(v);
  if (ns === 0) return undefined;
  if (ns < 1e6) throw new InstructionError(`Interval "${name}" cannot be less than 1ms`);
  return ns;
}

interface RawInstruction {
  readonly cmd: string;
  readonly flags: string[];
  readonly rest: string;
  readonly heredocs: readonly Heredoc[];
  readonly loc: Located;
}

function exactlyOne(what: string, args: readonly string[]): string {
  if (args.length !== 1) throw new InstructionError(`${what} requires exactly one argument`);
  return args[0];
}

function sourcesAndDest(
  what: "COPY" | "ADD",
  rest: string,
  heredocs: readonly Heredoc[],
): { sources: string[]; contents: SourceContent[]; dest: string; json: boolean } {
  const json = parseJsonArray(rest);
  const args = json ?? splitWhitespace(rest);
  if (args.length < 2) {
    throw new InstructionError(
      `${what} requires at least two arguments, but only one was provided. Destination could not be determined`,
    );
  }
  const dest = args[args.length - 1];
  if (!json && parseHeredocMarker(dest)) {
    throw new InstructionError(`${what} cannot accept a heredoc as a destination`);
  }
  const byName = new Map(heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const contents: SourceContent[] = [];
  for (const src of args.slice(0, -1)) {
    const marker = json ? undefined : parseHeredocMarker(src);
    if (marker) {
      const h = byName.get(marker.name);
      contents.push({
        path: marker.name,
        data: heredocText({ content: h?.content ?? "", chomp: marker.chomp }),
        expand: marker.expand,
      });
    } else sources.push(src);
  }
  return { sources, contents, dest, json: json !== undefined };
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

/** Builds the typed instruction from its parts; throws InstructionError. */
function toInstruction(raw: RawInstruction, escape: EscapeChar): Instruction {
  const { rest, heredocs, loc } = raw;
  const flags = new Flags(raw.flags);
  const kind = raw.cmd.toUpperCase();
  switch (kind) {
    case "FROM": {
      flags.string("platform").parse();
      const args = splitWhitespace(rest);
      let stage: string | undefined;
      if (args.length === 3 && args[1].toLowerCase() === "as") {
        stage = args[2].toLowerCase();
        if (!STAGE_NAME.test(stage)) {
          throw new InstructionError(
            `invalid name for build stage: ${
              JSON.stringify(args[2])
            }, name can't start with a number or contain symbols`,
          );
        }
      } else if (args.length !== 1) {
        throw new InstructionError("FROM requires either one or three arguments");
      }
      return {
        kind: "FROM",
        ...loc,
        image: args[0],
        ...(stage !== undefined && { stage }),
        ...(flags.get("platform") !== undefined && { platform: flags.get("platform") }),
      };
    }
    case "RUN": {
      flags.strings("mount").string("network").string("security").strings("device").parse();
      const network = flags.get("network") ?? "default";
      if (!["default", "none", "host"].includes(network)) {
        throw new InstructionError(`invalid network mode ${JSON.stringify(network)}`);
      }
      const security = flags.get("security") ?? "sandbox";
      if (!["sandbox", "insecure"].includes(security)) {
        throw new InstructionError(`security ${JSON.stringify(security)} is not valid`);
      }
      const mounts = flags.list("mount");
      for (const m of mounts) {
        // Syntax only: values are substituted later, so one with a variable may be fine then.
        try {
          parseRunMount(m);
        } catch (e) {
          if (!m.includes("$")) throw e;
        }
      }
      return {
        kind: "RUN",
        ...loc,
        command: commandLine(rest),
        heredocs,
        mounts,
        network,
        security,
        devices: flags.list("device"),
      };
    }
    case "CMD":
    case "ENTRYPOINT":
      flags.parse();
      return { kind, ...loc, command: commandLine(rest) };
    case "SHELL": {
      flags.parse();
      const args = parseJsonArray(rest);
      if (args === undefined) {
        if (rest === "") throw new InstructionError("SHELL requires at least one argument");
        throw new InstructionError(
          `SHELL requires the arguments to be in JSON form`,
        );
      }
      if (args.length === 0) throw new InstructionError("SHELL requires at least one argument");
      return { kind: "SHELL", ...loc, shell: args };
    }
    case "LABEL":
    case "ENV":
      flags.parse();
      return { kind, ...loc, pairs: parseKeyValues(rest, kind, escape) };
    case "MAINTAINER":
      flags.parse();
      return { kind: "MAINTAINER", ...loc, maintainer: exactlyOne(kind, rest ? [rest] : []) };
    case "EXPOSE": {
      flags.parse();
      const ports = splitWhitespace(rest);
      if (ports.length === 0) throw new InstructionError("EXPOSE requires at least one argument");
      return { kind: "EXPOSE", ...loc, ports: ports.sort() };
    }
    case "ADD": {
      flags.string("chown").string("chmod").bool("link").bool("keep-git-dir").string("checksum")
        .bool("unpack").strings("exclude").parse();
      return {
        kind: "ADD",
        ...loc,
        ...sourcesAndDest("ADD", rest, heredocs),
        ...(flags.get("chown") !== undefined && { chown: flags.get("chown") }),
        ...(flags.get("chmod") !== undefined && { chmod: flags.get("chmod") }),
        link: flags.isTrue("link"),
        exclude: flags.list("exclude"),
        ...(flags.get("checksum") !== undefined && { checksum: flags.get("checksum") }),
        ...(flags.has("keep-git-dir") && { keepGitDir: flags.isTrue("keep-git-dir") }),
        ...(flags.has("unpack") && { unpack: flags.isTrue("unpack") }),
      };
    }
    case "COPY": {
      flags.string("chown").string("from").string("chmod").bool("link").strings("exclude")
        .bool("parents").parse();
      const from = flags.get("from");
      if (from !== undefined && /\$./.test(from.replace(/\$$/, ""))) {
        throw new InstructionError(
          "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
        );
      }
      return {
        kind: "COPY",
        ...loc,
        ...sourcesAndDest("COPY", rest, heredocs),
        ...(from !== undefined && { from }),
        ...(flags.get("chown") !== undefined && { chown: flags.get("chown") }),
        ...(flags.get("chmod") !== undefined && { chmod: flags.get("chmod") }),
        link: flags.isTrue("link"),
        parents: flags.isTrue("parents"),
        exclude: flags.list("exclude"),
      };
    }
    case "VOLUME": {
      flags.parse();
      const paths = (parseJsonArray(rest) ?? splitWhitespace(rest)).map((p) => p.trim());
      if (paths.length === 0) throw new InstructionError("VOLUME requires at least one argument");
      if (paths.includes("")) {
        throw new InstructionError("VOLUME specified can not be an empty string");
      }
      return { kind: "VOLUME", ...loc, paths };
    }
    case "USER":
      flags.parse();
      return { kind: "USER", ...loc, user: exactlyOne(kind, rest ? [rest] : []) };
    case "WORKDIR":
      flags.parse();
      return { kind: "WORKDIR", ...loc, path: exactlyOne(kind, rest ? [rest] : []) };
    case "STOPSIGNAL":
      flags.parse();
      return { kind: "STOPSIGNAL", ...loc, signal: exactlyOne(kind, rest ? [rest] : []) };
    case "ARG": {
      flags.parse();
      const words = parseWords(rest, escape);
      if (words.length === 0) throw new InstructionError("ARG requires at least one argument");
      return {
        kind: "ARG",
        ...loc,
        args: words.map((w) => {
          const eq = w.indexOf("=");
          if (eq === -1) return { name: w };
          if (eq === 0) throw new InstructionError("ARG names can not be blank");
          return { name: w.slice(0, eq), value: w.slice(eq + 1) };
        }),
      };
    }
    case "HEALTHCHECK":
      return healthcheck(raw, flags);
    case "ONBUILD": {
      flags.parse();
      if (rest === "") throw new InstructionError("ONBUILD requires at least one argument");
      const sub = splitInstruction(rest, escape);
      const word = sub.cmd.toUpperCase();
      if (word === "ONBUILD") {
        throw new InstructionError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      }
      if (word === "MAINTAINER" || word === "FROM") {
        throw new InstructionError(`${word} isn't allowed as an ONBUILD trigger`);
      }
      let expression = loc.source.replace(/^\s*ONBUILD\s*/i, "");
      for (const h of heredocs) expression += `\n${h.content}${h.name}`;
      const trigger = toInstruction({
        ...sub,
        heredocs,
        loc: { ...loc, source: loc.source.replace(/^\s*ONBUILD\s*/i, "") },
      }, escape);
      return { kind: "ONBUILD", ...loc, expression, trigger };
    }
    default: {
      const near = closest(kind, INSTRUCTIONS);
      throw new InstructionError(
        `unknown instruction: ${raw.cmd}${near ? ` (did you mean ${near}?)` : ""}`,
      );
    }
  }
}

function healthcheck(raw: RawInstruction, flags: Flags): HealthcheckInstruction {
  const { rest, loc } = raw;
  const sep = rest.search(/\s/);
  const type = (sep === -1 ? rest : rest.slice(0, sep)).toUpperCase();
  const after = sep === -1 ? "" : rest.slice(sep).replace(/^\s+/, "");
  if (type === "") throw new InstructionError("HEALTHCHECK requires at least one argument");
  if (type === "NONE") {
    if (after !== "") throw new InstructionError("HEALTHCHECK NONE takes no arguments");
    return { kind: "HEALTHCHECK", ...loc, health: { Test: ["NONE"] } };
  }
  flags.string("interval").string("timeout").string("start-period").string("start-interval")
    .string("retries").parse();
  if (type !== "CMD") {
    throw new InstructionError(`Unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`);
  }
  const cmd = commandLine(after);
  const args = cmd.form === "exec" ? cmd.args : after === "" ? [] : [after];
  if (args.length === 0) throw new InstructionError("Missing command after HEALTHCHECK CMD");
  let retries: number | undefined;
  const r = flags.get("retries");
  if (r !== undefined && r !== "") {
    if (!/^[+-]?\d+$/.test(r)) {
      throw new InstructionError(`strconv.ParseInt: parsing ${JSON.stringify(r)}: invalid syntax`);
    }
    retries = Number(r);
    if (retries < 0) throw new InstructionError(`--retries cannot be negative (${retries})`);
  }
  const health: HealthConfig = {
    Test: [cmd.form === "exec" ? "CMD" : "CMD-SHELL", ...args],
    ...optional("Interval", interval(flags, "interval")),
    ...optional("Timeout", interval(flags, "timeout")),
    ...optional("StartPeriod", interval(flags, "start-period")),
    ...optional("StartInterval", interval(flags, "start-interval")),
    ...optional("Retries", retries),
  };
  return { kind: "HEALTHCHECK", ...loc, health };
}

function optional<K extends string, V>(key: K, v: V | undefined): Partial<Record<K, V>> {
  return v === undefined ? {} : { [key]: v } as Record<K, V>;
}

/** The instruction word, its flags and the rest of a (joined) line. */
function splitInstruction(line: string, escape: EscapeChar): {
  cmd: string;
  flags: string[];
  rest: string;
} {
  const t = line.trim();
  const m = t.match(/^(\S+)(?:[\t\v\f\r ]+([\s\S]*))?$/);
  const cmd = m?.[1] ?? t;
  const [flags, rest] = m?.[2] !== undefined ? extractFlags(m[2], escape) : [[], ""];
  return { cmd, flags, rest: rest.trim() };
}

/** Options of parseDockerfile. */
export interface ParseOptions {
  /** The file name errors name (default "Dockerfile"). */
  readonly file?: string;
}

/**
 * Parses a Dockerfile. Throws DockerfileError naming the file and the line
 * (`Dockerfile:12: unknown instruction: FOO`).
 */
export function parseDockerfile(text: string, opts: ParseOptions = {}): Dockerfile {
  const file = opts.file ?? "Dockerfile";
  const lines = splitLines(text.replace(/^\uFEFF/, ""));
  const directives = new DirectiveParser();
  let escape: EscapeChar = "\\";
  const instructions: Instruction[] = [];
  const warnings: ParseWarning[] = [];
  let n = 0; // lines consumed
  const fail = (line: number, e: unknown): never => {
    if (e instanceof InstructionError) throw new DockerfileError(file, line, e.message);
    throw e;
  };
  /** Trims the newline and feeds the directive parser; a comment line becomes empty. */
  const processLine = (raw: string, stripLeft: boolean): string => {
    let line = trimNewline(raw);
    if (stripLeft) line = line.replace(/^\s+/, "");
    try {
      const d = directives.parse(line);
      if (d?.[0] === "escape") {
        if (d[1] !== "\\" && d[1] !== "`") {
          throw new InstructionError(`invalid escape token '${d[1]}' does not match \` or \\`);
        }
        escape = d[1];
      }
    } catch (e) {
      fail(n + 1, e);
    }
    return isComment(line) ? "" : line;
  };
  while (n < lines.length) {
    const first = lines[n];
    const column = first.length - first.replace(/^\s+/, "").length + 1;
    let text = processLine(first, true);
    n++;
    const start = n;
    let ended: boolean;
    [text, ended] = trimContinuation(text, escape);
    if (ended && text === "") continue;
    let joined = text;
    let emptyContinuation = false;
    while (!ended && n < lines.length) {
      const raw = lines[n];
      const t = processLine(raw, false);
      n++;
      if (isComment(raw)) continue;
      if (t.trim() === "") {
        emptyContinuation = true;
        continue;
      }
      [text, ended] = trimContinuation(t, escape);
      joined += text;
    }
    if (emptyContinuation) {
      warnings.push({ line: n, message: `Empty continuation line found in: ${joined}` });
    }
    let parts: ReturnType<typeof splitInstruction>;
    try {
      parts = splitInstruction(joined, escape);
    } catch (e) {
      fail(start, e);
    }
    const kind = parts!.cmd.toUpperCase();
    const sub = kind === "ONBUILD" ? splitInstruction(parts!.rest, escape) : parts!;
    const subKind = sub.cmd.toUpperCase();
    const heredocs: Heredoc[] = [];
    if (
      ["RUN", "COPY", "ADD"].includes(subKind) && parseJsonArray(sub.rest) === undefined &&
      joined.includes("<<")
    ) {
      let markers: Omit<Heredoc, "content">[] = [];
      try {
        markers = heredocMarkers(joined);
      } catch (e) {
        fail(start, e);
      }
      for (const marker of markers) {
        let content = "";
        let terminated = false;
        while (n < lines.length) {
          const raw = lines[n++];
          let candidate = trimNewline(raw);
          if (marker.chomp) candidate = candidate.replace(/^\t+/, "");
          if (candidate === marker.name) {
            terminated = true;
            break;
          }
          content += raw;
        }
        if (!terminated) fail(start, new InstructionError("unterminated heredoc"));
        heredocs.push({ ...marker, content });
      }
    }
    const loc: Located = { line: start, endLine: n, column, source: joined.trim() };
    try {
      instructions.push(toInstruction({ ...parts!, heredocs, loc }, escape));
    } catch (e) {
      fail(start, e);
    }
  }
  if (instructions.length === 0) throw new DockerfileError(file, 0, "file with no instructions");
  return { instructions, escape, directives: { ...directives.found }, warnings };
}

/** A `RUN --mount` after substitution. */
export interface RunMount {
  readonly type: "bind" | "cache" | "tmpfs" | "secret" | "ssh";
  /** A stage name or index, or an image, for bind and cache mounts. */
  readonly from?: string;
  readonly source?: string;
  readonly target?: string;
  readonly readOnly: boolean;
  /** tmpfs size in bytes. */
  readonly size?: number;
  /** Cache or secret id. */
  readonly id?: string;
  readonly sharing?: "shared" | "private" | "locked";
  readonly required: boolean;
  /** Secret: the environment variable to expose it as. */
  readonly env?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

const MOUNT_KEYS = [
  "type",
  "from",
  "source",
  "src",
  "target",
  "dst",
  "destination",
  "readonly",
  "ro",
  "readwrite",
  "rw",
  "required",
  "size",
  "id",
  "sharing",
  "mode",
  "uid",
  "gid",
  "env",
];

/** A CSV record (Go's encoding/csv, one line): fields, quotes doubled inside quotes. */
function csvFields(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) {
          throw new InstructionError(
            `failed to parse csv mounts: extraneous or missing " in quoted-field`,
          );
        }
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ",") {
        throw new InstructionError(
          `failed to parse csv mounts: extraneous or missing " in quoted-field`,
        );
      }
    } else {
      while (i < s.length && s[i] !== ",") field += s[i++];
    }
    out.push(field);
    if (i >= s.length) return out;
    i++; // the comma
  }
}

function parseBool(key: string, v: string): boolean {
  const t = ["1", "t", "T", "TRUE", "true", "True"];
  const f = ["0", "f", "F", "FALSE", "false", "False"];
  if (t.includes(v)) return true;
  if (f.includes(v)) return false;
  throw new InstructionError(`invalid value for ${key}: ${v}`);
}

function parseUint(v: string, radix: number, what: string): number {
  const ok = radix === 8 ? /^[0-7]+$/ : /^\d+$/;
  const n = ok.test(v) ? parseInt(v, radix) : NaN;
  if (!(n >= 0 && n <= 0xffffffff)) throw new InstructionError(`invalid value ${v} for ${what}`);
  return n;
}

/** docker's RAMInBytes: `64m`, `1g`, `512k`, `100` (binary units). */
function ramBytes(v: string): number {
  const m = v.match(/^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i);
  if (!m) throw new InstructionError(`invalid value for size: ${v}`);
  const exp = " kmgtp".indexOf(m[2].toLowerCase() || " ");
  return Math.floor(Number(m[1]) * 1024 ** exp);
}

/**
 * Parses one `--mount` value (CSV of `key=value`, BuildKit's rules), with
 * `expand` applied to each value (docker substitutes per value). Throws
 * InstructionError-derived errors as plain Errors with docker's wording.
 */
export function parseRunMount(spec: string, expandValue?: (v: string) => string): RunMount {
  const fields = csvFields(spec);
  let type: RunMount["type"] = "bind";
  const m: {
    -readonly [K in keyof RunMount]?: RunMount[K];
  } = {};
  let readOnly: boolean | undefined;
  let required = false;
  for (const field of fields) {
    const eq = field.indexOf("=");
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase();
    if (eq === -1) {
      if (key === "readonly" || key === "ro") readOnly = true;
      else if (key === "readwrite" || key === "rw") readOnly = false;
      else if (key === "required") {
        if (type !== "secret" && type !== "ssh") {
          throw new InstructionError(`unexpected key '${key}' for mount type '${type}'`);
        }
        required = true;
      } else throw new InstructionError(`invalid field '${field}' must be a key=value pair`);
      continue;
    }
    const value = expandValue ? expandValue(field.slice(eq + 1)) : field.slice(eq + 1);
    switch (key) {
      case "type": {
        const t = value.toLowerCase();
        if (!["bind", "cache", "tmpfs", "secret", "ssh"].includes(t)) {
          throw new InstructionError(`unsupported mount type ${JSON.stringify(value)}`);
        }
        type = t as RunMount["type"];
        break;
      }
      case "from":
        m.from = value;
        break;
      case "source":
      case "src":
        m.source = value;
        break;
      case "target":
      case "dst":
      case "destination":
        m.target = value;
        break;
      case "readonly":
      case "ro":
        readOnly = parseBool(key, value);
        break;
      case "readwrite":
      case "rw":
        readOnly = !parseBool(key, value);
        break;
      case "required":
        if (type !== "secret" && type !== "ssh") {
          throw new InstructionError(`unexpected key '${key}' for mount type '${type}'`);
        }
        required = parseBool(key, value);
        break;
      case "size":
        if (type !== "tmpfs") {
          throw new InstructionError(`unexpected key '${key}' for mount type '${type}'`);
        }
        m.size = ramBytes(value);
        break;
      case "id":
        m.id = value;
        break;
      case "sharing": {
        const s = value.toLowerCase();
        if (!["shared", "private", "locked"].includes(s)) {
          throw new InstructionError(`unsupported sharing value ${JSON.stringify(value)}`);
        }
        m.sharing = s as RunMount["sharing"];
        break;
      }
      case "mode":
        m.mode = parseUint(value, 8, "mode");
        break;
      case "uid":
        m.uid = parseUint(value, 10, "uid");
        break;
      case "gid":
        m.gid = parseUint(value, 10, "gid");
        break;
      case "env":
        m.env = value;
        break;
      default: {
        const near = closest(key, MOUNT_KEYS);
        throw new InstructionError(
          `unexpected key '${key}' in '${field}'${near ? ` (did you mean ${near}?)` : ""}`,
        );
      }
    }
  }
  const fileInfo = type === "secret" || type === "ssh" || type === "cache";
  if (!fileInfo) {
    for (const k of ["mode", "uid", "gid"] as const) {
      if (m[k] !== undefined) {
        throw new InstructionError(`${k} not allowed for "${type}" type mounts`);
      }
    }
  }
  if (type === "secret") {
    if (m.from !== undefined) throw new InstructionError("secret mount should not have a from");
    if (m.sharing !== undefined) {
      throw new InstructionError("secret mount should not define sharing");
    }
    if (!m.source && !m.target && !m.id) {
      throw new InstructionError("invalid secret mount. one of source, target required");
    }
    if (m.source && m.id) throw new InstructionError("both source and id can't be set");
  }
  if (m.sharing !== undefined && type !== "cache") {
    throw new InstructionError(`invalid cache sharing set for ${type} mount`);
  }
  return {
    type,
    ...m,
    readOnly: readOnly ?? !(type === "cache" || type === "tmpfs"),
    required,
  };
}

/**
 * The instructions of ONBUILD triggers stored in an image config (each one
 * instruction, as docker requires), located at the child's FROM line so
 * errors point there. Throws DockerfileError.
 */
export function parseTriggers(
  triggers: readonly string[],
  at: { line: number; file?: string },
): Instruction[] {
  const file = at.file ?? "Dockerfile";
  return triggers.map((t) => {
    let df: Dockerfile;
    try {
      df = parseDockerfile(t, { file });
    } catch (e) {
      if (e instanceof DockerfileError) {
        throw new DockerfileError(file, at.line, `ONBUILD trigger: ${e.detail}`);
      }
      throw e;
    }
    if (df.instructions.length !== 1) {
      throw new DockerfileError(file, at.line, "onbuild trigger should be a single expression");
    }
    const ins = df.instructions[0];
    if (ins.kind === "ONBUILD" || ins.kind === "FROM" || ins.kind === "MAINTAINER") {
      throw new DockerfileError(file, at.line, `${ins.kind} isn't allowed as an ONBUILD trigger`);
    }
    const span = ins.endLine - ins.line;
    return { ...ins, line: at.line, endLine: at.line + span };
  });
}
