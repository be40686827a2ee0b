/**
 * How the parser cuts an instruction's text: the leading `--flag` words, the
 * quote-keeping words of ENV, LABEL and ARG, JSON arrays (exec form), the
 * flags each instruction accepts (BuildKit's BFlags rules), and Go's
 * duration syntax of HEALTHCHECK. Pure.
 * @module
 */

import { closest } from "../../suggest.ts";
import type { EscapeChar } from "./instructions.ts";

/** An error in one instruction; the parser adds the file and the line. */
export class InstructionError extends Error {}

/** White space between words (not newlines: instructions are joined lines). */
export const WHITESPACE = /[\t\v\f\r ]+/;

export function isSpace(ch: string): boolean {
  return /^\s$/u.test(ch);
}

/**
 * Splits off the leading `--flag` words (quotes and escapes processed);
 * returns them and the rest of the line.
 */
export function extractFlags(line: string, escape: EscapeChar): [string[], string] {
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
export function parseWords(rest: string, escape: EscapeChar): string[] {
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

export function splitWhitespace(rest: string): string[] {
  return rest === "" ? [] : rest.split(WHITESPACE);
}

const NOT_STRINGS = "when using JSON array syntax, arrays must be comprised of strings only";

/** A JSON array of strings, or undefined when the text is not a JSON array. */
export function parseJsonArray(rest: string): string[] | undefined {
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

/** Flags of one instruction, checked as BuildKit's BFlags does. */
export class Flags {
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
