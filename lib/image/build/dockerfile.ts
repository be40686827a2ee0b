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

import {
  extractFlags,
  Flags,
  InstructionError,
  parseGoDuration,
  parseJsonArray,
  parseWords,
  splitWhitespace,
} from "./_words.ts";
import { expand, ExpandError } from "./expand.ts";
import {
  type CommandLine,
  type EscapeChar,
  type HealthcheckInstruction,
  type HealthConfig,
  type Heredoc,
  heredocText,
  type Instruction,
  INSTRUCTIONS,
  type KeyValue,
  type Located,
  type SourceContent,
} from "./instructions.ts";
import { parseRunMount } from "./run_mount.ts";
import { closest } from "../../suggest.ts";

export * from "./instructions.ts";
export { parseRunMount } from "./run_mount.ts";
export type { RunMount } from "./run_mount.ts";
export { parseGoDuration } from "./_words.ts";

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

const DIRECTIVES = new Set(["syntax", "escape", "check"]);
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const HEREDOC = /^(\d*)<<(-?)\s*([^<]*)$/;

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
