/**
 * Variable substitution in Dockerfiles: the shell-word processing docker's
 * builder applies to the arguments of some instructions (not a shell: no
 * command substitution, no globbing, no field splitting on IFS).
 *
 * - `$V`, `${V}`, `${V:-word}` `${V-word}` (default), `${V:+word}` `${V+word}`
 *   (alternative), `${V:?msg}` `${V?msg}` (error), `${V#pat}` `${V##pat}`
 *   `${V%pat}` `${V%%pat}` (trim), `${V/pat/repl}` `${V//pat/repl}`;
 * - the escape character (`\` or the one of `# escape=`) escapes the next
 *   character; single quotes keep everything literally, double quotes keep
 *   everything but `$` and escapes of `"`, `$` and the escape character;
 * - words: ProcessWords splits the result on unquoted white space (after
 *   substitution, so a value with spaces splits; a quoted one does not).
 *
 * Which instructions substitute is docker's list: ADD COPY ENV EXPOSE FROM
 * LABEL STOPSIGNAL USER VOLUME WORKDIR, ARG names and defaults (stages.ts),
 * RUN --mount values (parseRunMount) and the content of unquoted COPY/ADD
 * heredocs; never RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER or
 * ONBUILD (the shell of the container does that, or the child build).
 * expandInstruction() applies that list. Pure.
 * @module
 */

import type { EscapeChar, Instruction, KeyValue } from "./instructions.ts";

/** Variables visible to substitution, by exact name (Linux keys are case-sensitive). */
export type Vars = ReadonlyMap<string, string>;

/** How words are processed. */
export interface LexOptions {
  /** The escape character (default `\`). */
  readonly escape?: EscapeChar;
  /** Keep quote characters in the result. */
  readonly rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  readonly rawEscapes?: boolean;
  /** Quotes are ordinary characters (heredoc content). */
  readonly skipQuotes?: boolean;
  /** Leave unset variables as written (`$X`, `${X:-y}`) instead of empty. */
  readonly skipUnset?: boolean;
}

/** The result of processing one word. */
export interface Expansion {
  /** The processed text, spaces kept. */
  readonly value: string;
  /** The same, split into words on unquoted white space. */
  readonly words: string[];
  /** Variables that were looked up and set. */
  readonly used: ReadonlySet<string>;
  /** Variables that were looked up and not set. */
  readonly unset: ReadonlySet<string>;
}

/** A syntax error in a word, or a `${V?msg}` that fired. */
export class ExpandError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = "ExpandError";
  }
}

const SPECIAL_PARAMS = new Set(["@", "*", "#", "?", "-", "$", "!", "0"]);

function isSpace(ch: string): boolean {
  return /^\s$/u.test(ch);
}

/** Word accumulation: unquoted white space separates words, quoted text never does. */
class Words {
  #buf = "";
  #words: string[] = [];
  #inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.#inWord && this.#buf !== "") {
        this.#words.push(this.#buf);
        this.#buf = "";
        this.#inWord = false;
      }
    } else this.addRaw(ch);
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  addRaw(s: string): void {
    this.#buf += s;
    this.#inWord = true;
  }

  done(): string[] {
    if (this.#buf !== "") {
      this.#words.push(this.#buf);
      this.#buf = "";
      this.#inWord = false;
    }
    return this.#words;
  }
}

/** One pass over one word. */
class Lexer {
  readonly #chars: string[];
  #pos = 0;
  #rawEscapes: boolean;
  readonly used = new Set<string>();
  readonly unset = new Set<string>();

  constructor(word: string, readonly vars: Vars, readonly opts: LexOptions) {
    this.#chars = Array.from(word);
    this.#rawEscapes = opts.rawEscapes ?? false;
  }

  get #escape(): string {
    return this.opts.escape ?? "\\";
  }

  #peek(): string | undefined {
    return this.#chars[this.#pos];
  }

  #next(): string | undefined {
    return this.#chars[this.#pos++];
  }

  #lookup(name: string): string | undefined {
    const v = this.vars.get(name);
    if (v === undefined) this.unset.add(name);
    else this.used.add(name);
    return v;
  }

  /** Processes up to `stop` (consumed) or the end; returns the text and its words. */
  run(stop: string | undefined, rawEscapes: boolean): [string, string[]] {
    const saved = this.#rawEscapes;
    this.#rawEscapes = rawEscapes;
    try {
      return this.#run(stop);
    } finally {
      this.#rawEscapes = saved;
    }
  }

  #run(stop: string | undefined): [string, string[]] {
    let result = "";
    const words = new Words();
    for (let ch = this.#peek(); ch !== undefined; ch = this.#peek()) {
      if (stop !== undefined && ch === stop) {
        this.#next();
        return [result, words.done()];
      }
      const quotes = !this.opts.skipQuotes;
      if (ch === "$") {
        const v = this.#dollar();
        result += v;
        words.addString(v);
      } else if (ch === "<") {
        const v = this.#heredocStart();
        result += v;
        words.addRaw(v);
      } else if (quotes && ch === "'") {
        const v = this.#single();
        result += v;
        words.addRaw(v);
      } else if (quotes && ch === '"') {
        const v = this.#double();
        result += v;
        words.addRaw(v);
      } else {
        let c = this.#next()!;
        if (c === this.#escape) {
          if (this.#rawEscapes) {
            words.addRaw(c);
            result += c;
          }
          const escaped = this.#next();
          if (escaped === undefined) break; // an escape at the end of the word is dropped
          c = escaped;
          words.addRaw(c);
        } else words.addChar(c);
        result += c;
      }
    }
    if (stop !== undefined) {
      throw new ExpandError(`unexpected end of statement while looking for matching ${stop}`);
    }
    return [result, words.done()];
  }

  #single(): string {
    const raw = this.opts.rawQuotes;
    let out = raw ? this.#next()! : (this.#next(), "");
    for (;;) {
      const ch = this.#next();
      if (ch === undefined) {
        throw new ExpandError(
          "unexpected end of statement while looking for matching single-quote",
        );
      }
      if (ch === "'") return raw ? out + ch : out;
      out += ch;
    }
  }

  #double(): string {
    const raw = this.opts.rawQuotes;
    let out = raw ? this.#next()! : (this.#next(), "");
    for (;;) {
      const ch = this.#peek();
      if (ch === undefined) {
        throw new ExpandError(
          "unexpected end of statement while looking for matching double-quote",
        );
      }
      if (ch === '"') {
        this.#next();
        return raw ? out + ch : out;
      }
      if (ch === "$") {
        out += this.#dollar();
        continue;
      }
      let c = this.#next()!;
      if (c === this.#escape) {
        if (this.#rawEscapes) out += c;
        const after = this.#peek();
        if (after === undefined) continue; // reported as the missing quote
        if (after === '"' || after === "$" || after === this.#escape) c = this.#next()!;
      }
      out += c;
    }
  }

  /** `<<` keeps the white space after it in the same word (a heredoc marker `<< EOF`). */
  #heredocStart(): string {
    this.#next();
    if (this.#peek() !== "<") return "<";
    this.#next();
    let space = "";
    for (let ch = this.#peek(); ch === " " || ch === "\t" || ch === "\r"; ch = this.#peek()) {
      space += this.#next();
    }
    return "<<" + space;
  }

  #name(): string {
    let name = "";
    for (let ch = this.#peek(); ch !== undefined; ch = this.#peek()) {
      if (name === "" && /^\p{Nd}$/u.test(ch)) {
        while (this.#peek() !== undefined && /^\p{Nd}$/u.test(this.#peek()!)) name += this.#next();
        return name;
      }
      if (name === "" && SPECIAL_PARAMS.has(ch)) return this.#next()!;
      if (!/^[\p{L}\p{Nd}_]$/u.test(ch)) break;
      name += this.#next();
    }
    return name;
  }

  #dollar(): string {
    this.#next();
    if (this.#peek() !== "{") {
      const name = this.#name();
      if (name === "") return "$";
      const v = this.#lookup(name);
      if (v === undefined && this.opts.skipUnset) return "$" + name;
      return v ?? "";
    }
    this.#next();
    const first = this.#peek();
    if (first === undefined) throw new ExpandError("syntax error: missing '}'");
    if (first === "{" || first === "}" || first === ":") {
      throw new ExpandError("syntax error: bad substitution");
    }
    const name = this.#name();
    let op = this.#next();
    let ops = op ?? "";
    if (op === "}") {
      const v = this.#lookup(name);
      if (v === undefined && this.opts.skipUnset) return `\${${name}}`;
      return v ?? "";
    }
    let nullIsUnset = false;
    if (op === ":") {
      nullIsUnset = true;
      op = this.#next();
      ops += op ?? "";
    }
    if (op === undefined) throw new ExpandError("syntax error: missing '}'");
    if (op === "/" && !nullIsUnset) return this.#replace(name);
    if (!"+-?#%".includes(op)) {
      throw new ExpandError(`unsupported modifier (${ops}) in substitution`);
    }
    const trims = op === "#" || op === "%";
    if (nullIsUnset && trims) {
      throw new ExpandError(`unsupported modifier (${ops}) in substitution`);
    }
    const word = this.#until("}", trims, "syntax error: missing '}'");
    const v = this.#lookup(name);
    if (v === undefined && this.opts.skipUnset) return `\${${name}${ops}${word}}`;
    const empty = v === undefined || (nullIsUnset && v === "");
    switch (op) {
      case "-":
        return empty ? word : v!;
      case "+":
        return empty ? "" : word;
      case "?":
        if (v === undefined) {
          throw new ExpandError(`${name}: ${word || "is not allowed to be unset"}`);
        }
        if (empty) throw new ExpandError(`${name}: ${word || "is not allowed to be empty"}`);
        return v;
      default: {
        // # and % match the shortest pattern, ## and %% the longest.
        const greedy = word.startsWith(op);
        const pattern = greedy ? word.slice(1) : word;
        return op === "#"
          ? trimPrefix(pattern, v ?? "", greedy)
          : trimSuffix(pattern, v ?? "", greedy);
      }
    }
  }

  #until(stop: string, rawEscapes: boolean, missing: string): string {
    try {
      return this.run(stop, rawEscapes)[0];
    } catch (e) {
      if (this.#peek() === undefined) throw new ExpandError(missing);
      throw e;
    }
  }

  #replace(name: string): string {
    const all = this.#peek() === "/";
    if (all) this.#next();
    const pattern = this.#until("/", true, "syntax error: missing '/' in ${}");
    const replacement = this.#until("}", true, "syntax error: missing '}'");
    const v = this.#lookup(name);
    if (v === undefined && this.opts.skipUnset) return `\${${name}/${pattern}/${replacement}}`;
    const re = patternRegex(pattern, true, false, all);
    return (v ?? "").replace(re, () => replacement);
  }
}

/**
 * A shell pattern (`*`, `?`, `\` escapes; no bracket expressions, as docker)
 * as a regular expression.
 */
function patternRegex(pattern: string, greedy: boolean, anchored: boolean, all = false): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? "^" : "";
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === "*") out += greedy ? ".*" : ".*?";
    else if (c === "?") out += ".";
    else if (c === "\\") {
      // `}` and `/` are escaped only to end the ${} word; not part of the pattern.
      if (chars[i + 1] === "}" || chars[i + 1] === "/") continue;
      const n = chars[++i];
      if (n !== "*" && n !== "?" && n !== "\\") {
        throw new ExpandError(
          `invalid pattern (${pattern}) in substitution: invalid escape '\\${n ?? ""}'`,
        );
      }
      out += "\\" + n;
    } else out += c.replace(/[[\]{}.+()|^$]/, "\\$&");
  }
  return new RegExp(out, all ? "gu" : "u");
}

function reverse(s: string): string {
  return Array.from(s).reverse().join("");
}

/** Reverses a pattern keeping `\x` escapes in front of what they escape. */
function reversePattern(pattern: string): string {
  const tokens: string[] = [];
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    if (chars[i] === "\\" && i + 1 < chars.length) tokens.push(chars[i] + chars[++i]);
    else tokens.push(chars[i]);
  }
  return tokens.reverse().join("");
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = patternRegex(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // Regular expressions find the leftmost match: reverse both to find the rightmost.
  return reverse(trimPrefix(reversePattern(pattern), reverse(value), greedy));
}

/** Processes one word: substitution, quotes and escapes; also its words and the variables seen. */
export function expand(word: string, vars: Vars, opts: LexOptions = {}): Expansion {
  const lx = new Lexer(word, vars, opts);
  const [value, words] = lx.run(undefined, opts.rawEscapes ?? false);
  return { value, words, used: lx.used, unset: lx.unset };
}

/** The processed text of a word (docker's ProcessWord). */
export function expandWord(word: string, vars: Vars, opts: LexOptions = {}): string {
  return expand(word, vars, opts).value;
}

/** The processed words of a text (docker's ProcessWords: split after substitution). */
export function expandWords(word: string, vars: Vars, opts: LexOptions = {}): string[] {
  return expand(word, vars, opts).words;
}

/** Options of expandInstruction. */
export interface ExpandOptions {
  /** The escape character of the Dockerfile. */
  readonly escape?: EscapeChar;
  /** Called with each variable looked up: for used-argument bookkeeping. */
  readonly onLookup?: (name: string, set: boolean) => void;
}

/**
 * The instruction with docker's substitutions applied for the variables in
 * scope (the stage's ARGs and ENVs). Instructions docker never substitutes
 * come back unchanged, and so does ARG: StageScope.declare() substitutes
 * its names and defaults itself (a build-arg may replace the default). FROM
 * is processed by the build graph against the global ARGs, not here; RUN's
 * `--mount` values by parseRunMount.
 */
export function expandInstruction<T extends Instruction>(
  ins: T,
  vars: Vars,
  opts: ExpandOptions = {},
): T {
  return substitute(ins, vars, opts) as unknown as T;
}

function substitute(i: Instruction, vars: Vars, opts: ExpandOptions): Instruction {
  const lex: LexOptions = { escape: opts.escape };
  const run = (w: string, o: LexOptions = lex) => {
    const r = expand(w, vars, o);
    for (const n of r.used) opts.onLookup?.(n, true);
    for (const n of r.unset) opts.onLookup?.(n, false);
    return r;
  };
  const word = (w: string) => run(w).value;
  const pairs = (kv: readonly KeyValue[]) =>
    kv.map((p) => ({ ...p, key: word(p.key), value: word(p.value) }));
  switch (i.kind) {
    case "ENV":
    case "LABEL":
      return { ...i, pairs: pairs(i.pairs) };
    case "EXPOSE":
      return { ...i, ports: i.ports.flatMap((p) => run(p).words) };
    case "USER":
      return { ...i, user: word(i.user) };
    case "WORKDIR":
      return { ...i, path: word(i.path) };
    case "STOPSIGNAL":
      return { ...i, signal: word(i.signal) };
    case "VOLUME":
      return { ...i, paths: i.paths.map(word) };
    case "ADD":
    case "COPY": {
      const out = {
        ...i,
        sources: i.sources.map(word),
        // Heredoc content: only `$` substitution with `\` escapes; quotes are text.
        contents: i.contents.map((c) =>
          c.expand ? { ...c, data: run(c.data, { escape: "\\", skipQuotes: true }).value } : c
        ),
        dest: word(i.dest),
        ...(i.chown !== undefined && { chown: word(i.chown) }),
        ...(i.chmod !== undefined && { chmod: word(i.chmod) }),
      };
      if (out.kind === "ADD" && out.checksum !== undefined) out.checksum = word(out.checksum);
      return out;
    }
    default:
      return i;
  }
}
