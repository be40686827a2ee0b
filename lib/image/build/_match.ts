/**
 * Path patterns as docker matches them: Go's filepath.Match (COPY/ADD
 * sources, `--exclude`) and moby/patternmatcher (.dockerignore: `**`, `!`
 * exceptions, the last matching pattern wins, a pattern matching a parent
 * directory matches everything below it), and Go's filepath.Clean. Pure.
 * @module
 */

/** A malformed pattern (Go's filepath.ErrBadPattern). */
export class BadPatternError extends Error {
  constructor(pattern: string) {
    super(`syntax error in pattern: ${pattern}`);
    this.name = "BadPatternError";
  }
}

/** Go's filepath.Clean on a slash path: no `.` or empty components, `..` resolved. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const c of p.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(c);
  }
  const s = out.join("/");
  return rooted ? "/" + s : s || ".";
}

/** Whether a path contains pattern characters (`*`, `?`, `[`), escapes skipped. */
export function hasWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c === "*" || c === "?" || c === "[") return true;
    if (c === "\\") i++;
  }
  return false;
}

/** Splits off the next chunk of a pattern: leading stars, then up to the next unescaped `*`. */
function scanChunk(pattern: string): [boolean, string, string] {
  let star = false;
  while (pattern.startsWith("*")) {
    pattern = pattern.slice(1);
    star = true;
  }
  let inRange = false;
  let i = 0;
  scan: for (; i < pattern.length; i++) {
    switch (pattern[i]) {
      case "\\":
        if (i + 1 < pattern.length) i++;
        break;
      case "[":
        inRange = true;
        break;
      case "]":
        inRange = false;
        break;
      case "*":
        if (!inRange) break scan;
    }
  }
  return [star, pattern.slice(0, i), pattern.slice(i)];
}

/** One escaped-or-not character of a class; returns it and the rest. */
function classChar(chunk: string[], pattern: string): [string, string[]] {
  if (chunk.length === 0 || chunk[0] === "-" || chunk[0] === "]") {
    throw new BadPatternError(pattern);
  }
  if (chunk[0] === "\\") {
    chunk = chunk.slice(1);
    if (chunk.length === 0) throw new BadPatternError(pattern);
  }
  return [chunk[0], chunk.slice(1)];
}

/**
 * Matches a chunk (no `*`) at the start of `s`; returns the rest of `s`, or
 * undefined. Throws BadPatternError for a malformed chunk (only when reached).
 */
function matchChunk(chunkText: string, sText: string, pattern: string): string[] | undefined {
  let chunk = Array.from(chunkText);
  let s = Array.from(sText);
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    switch (chunk[0]) {
      case "[": {
        const r = s[0] ?? "";
        if (!failed) s = s.slice(1);
        chunk = chunk.slice(1);
        let negated = false;
        if (chunk[0] === "^") {
          negated = true;
          chunk = chunk.slice(1);
        }
        let match = false;
        let n = 0;
        for (;;) {
          if (chunk.length > 0 && chunk[0] === "]" && n > 0) {
            chunk = chunk.slice(1);
            break;
          }
          let lo: string, hi: string;
          [lo, chunk] = classChar(chunk, pattern);
          hi = lo;
          if (chunk[0] === "-") {
            [hi, chunk] = classChar(chunk.slice(1), pattern);
          }
          if (lo <= r && r <= hi) match = true;
          n++;
        }
        if (match === negated) failed = true;
        break;
      }
      case "?":
        if (!failed) {
          if (s[0] === "/") failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
        break;
      case "\\":
        chunk = chunk.slice(1);
        if (chunk.length === 0) throw new BadPatternError(pattern);
        // falls through: the escaped character is literal
      default:
        if (!failed) {
          if (chunk[0] !== s[0]) failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
    }
  }
  return failed ? undefined : s;
}

/**
 * Go's filepath.Match: `*` any run of non-`/` characters, `?` one, `[...]`
 * a class (`^` negates, `a-z` ranges), `\` escapes. Throws BadPatternError.
 */
export function goMatch(pattern: string, name: string): boolean {
  let p = pattern;
  outer: while (p.length > 0) {
    const [star, chunk, rest] = scanChunk(p);
    p = rest;
    if (star && chunk === "") return !name.includes("/");
    const t = matchChunk(chunk, name, pattern);
    if (t !== undefined && (t.length === 0 || p.length > 0)) {
      name = t.join("");
      continue;
    }
    if (star) {
      const chars = Array.from(name);
      for (let i = 0; i < chars.length && chars[i] !== "/"; i++) {
        const t2 = matchChunk(chunk, chars.slice(i + 1).join(""), pattern);
        if (t2 !== undefined) {
          if (p.length === 0 && t2.length > 0) continue;
          name = t2.join("");
          continue outer;
        }
      }
    }
    // No match: the rest of the pattern must still be well-formed.
    while (p.length > 0) {
      const [, c, r] = scanChunk(p);
      p = r;
      matchChunk(c, "", pattern);
    }
    return false;
  }
  return name.length === 0;
}

/** One .dockerignore pattern, compiled. */
interface Pattern {
  readonly text: string;
  readonly exclusion: boolean;
  readonly depth: number;
  readonly match: (path: string) => boolean;
}

const REGEX_SPECIAL = new Set([".", "+", "(", ")", "|", "{", "}", "$"]);

/** Compiles a cleaned pattern as patternmatcher does (exact, prefix, suffix or regexp). */
function compile(text: string): (path: string) => boolean {
  let re = "^";
  let type: "exact" | "prefix" | "suffix" | "regexp" = "exact";
  const chars = Array.from(text);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        const atStart = i === 0;
        i++;
        if (chars[i + 1] === "/") i++; // `**/` is `**`
        if (i + 1 >= chars.length) {
          // `**` at the end matches everything below, as in .gitignore.
          if (type === "exact") type = "prefix";
          else {
            re += ".*";
            type = "regexp";
          }
        } else {
          re += "(.*/)?";
          type = "regexp";
        }
        if (atStart) type = "suffix";
      } else {
        re += "[^/]*";
        type = "regexp";
      }
    } else if (ch === "?") {
      re += "[^/]";
      type = "regexp";
    } else if (REGEX_SPECIAL.has(ch)) re += "\\" + ch;
    else if (ch === "\\") {
      if (i + 1 < chars.length) {
        re += "\\" + chars[++i];
        type = "regexp";
      } else re += "\\\\";
    } else if (ch === "[" || ch === "]") {
      re += ch;
      type = "regexp";
    } else re += ch;
  }
  switch (type) {
    case "exact":
      return (p) => p === text;
    case "prefix": {
      const prefix = text.slice(0, -2);
      return (p) => p.startsWith(prefix);
    }
    case "suffix": {
      const suffix = text.slice(2);
      return (p) => p.endsWith(suffix) || (suffix.startsWith("/") && p === suffix.slice(1));
    }
    default: {
      let regex: RegExp;
      try {
        regex = new RegExp(re + "$");
      } catch {
        throw new BadPatternError(text);
      }
      return (p) => regex.test(p);
    }
  }
}

/** What a directory matched, for its children (patternmatcher's MatchInfo). */
export type MatchInfo = readonly boolean[];

/** .dockerignore patterns, compiled: the last pattern that matches a path decides. */
export class PatternMatcher {
  readonly #patterns: Pattern[] = [];
  /** Whether some pattern is an exception (`!...`). */
  readonly exclusions: boolean;

  constructor(patterns: readonly string[]) {
    for (let p of patterns) {
      p = p.trim();
      if (p === "") continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p.startsWith("!")) {
        if (p.length === 1) throw new Error('illegal exclusion pattern: "!"');
        exclusion = true;
        p = p.slice(1);
      }
      goMatch(p, "."); // syntax check, as patternmatcher does
      this.#patterns.push({ text: p, exclusion, depth: p.split("/").length, match: compile(p) });
    }
    this.exclusions = this.#patterns.some((p) => p.exclusion);
  }

  /** Whether there is no pattern at all. */
  get empty(): boolean {
    return this.#patterns.length === 0;
  }

  /**
   * Whether a slash path (relative to the context) is excluded, given what
   * its parent directory matched (undefined: check every parent, as
   * MatchesOrParentMatches). Returns the MatchInfo to pass for its children.
   */
  match(path: string, parent?: MatchInfo): [boolean, MatchInfo] {
    let matched = false;
    const info: boolean[] = new Array(this.#patterns.length).fill(false);
    const dirs = parent === undefined ? parentsOf(path) : [];
    for (const [i, p] of this.#patterns.entries()) {
      let m = parent?.[i] ?? false;
      if (!m) {
        if (p.exclusion !== matched) continue;
        m = p.match(path) || dirs.some((d) => p.match(d));
      }
      info[i] = m;
      if (m) matched = !p.exclusion;
    }
    return [matched, info];
  }

  /** Whether a slash path is excluded (parents checked). */
  matches(path: string): boolean {
    return this.match(path)[0];
  }
}

function parentsOf(path: string): string[] {
  const parts = path.split("/");
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join("/"));
  return out;
}

/**
 * The patterns of a .dockerignore file (moby/patternmatcher/ignorefile): a
 * UTF-8 BOM is dropped, lines starting with `#` are comments, patterns are
 * trimmed and cleaned, a leading `/` is dropped (`/foo` is `foo`).
 */
export function parseDockerignore(text: string): string[] {
  const out: string[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = (i === 0 ? raw.replace(/^\uFEFF/, "") : raw).replace(/\r$/, "");
    if (line.startsWith("#")) continue;
    let p = line.trim();
    if (p === "") continue;
    const invert = p.startsWith("!");
    if (invert) p = p.slice(1).trim();
    if (p !== "") {
      p = cleanPath(p);
      if (p.length > 1 && p.startsWith("/")) p = p.slice(1);
    }
    out.push(invert ? "!" + p : p);
  }
  return out;
}
