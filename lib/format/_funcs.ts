/**
 * The functions of a template: Go's builtins (text/template funcs.go) and docker's extras
 * (docker/cli templates/templates.go: json, split, join, title, lower, upper, pad, truncate).
 * @module
 */

import { isPrint, sprint, sprintf, sprintln } from "./_fmt.ts";
import {
  compareStrings,
  fromUtf8,
  isTrue,
  kindOf,
  num,
  typeName,
  utf8,
  type Value,
} from "./_value.ts";

/**
 * How an argument is checked and converted, after Go's parameter types: `value` is Go's
 * reflect.Value (anything, a missing value stays missing), `any` is interface{} (a missing
 * value becomes nil), the others must have that type (a literal must be of that kind).
 */
export type ParamType = "value" | "any" | "string" | "int" | "float" | "bool";

/** A function callable from a template. */
export interface TemplateFunction {
  /** Types of the fixed parameters. */
  readonly params: readonly ParamType[];
  /** Type of the variadic rest, if the function takes one. */
  readonly variadic?: ParamType;
  /** Computes the result; a thrown Error becomes `error calling NAME: MESSAGE`. */
  readonly call: (...args: any[]) => Value;
}

/** Go's indirectInterface: a nil interface is no value at all. */
function indirect(v: Value): Value {
  return v === null ? undefined : v;
}

/** Go's indexArg: an int index within 0..cap. */
function indexArg(index: Value, cap: number): number {
  const v = indirect(index);
  const k = kindOf(v);
  if (k === "invalid") throw new Error("cannot index slice/array with nil");
  if (k !== "int") throw new Error(`cannot index slice/array with type ${typeName(v)}`);
  const x = num(v);
  if (x < 0 || x > cap) throw new Error(`index out of range: ${x}`);
  return x;
}

function index(item: Value, ...indexes: Value[]): Value {
  let v = indirect(item);
  if (v === undefined) throw new Error("index of untyped nil");
  for (const ix of indexes) {
    if (v === null || v === undefined) throw new Error("index of nil pointer");
    const k = kindOf(v);
    if (k === "slice" || k === "string") {
      const seq = k === "string" ? utf8(v as string) : (v as Value[]);
      const x = indexArg(ix, seq.length);
      if (x === seq.length) throw new Error(`index out of range: ${x}`);
      v = seq[x] as Value;
    } else if (k === "map") {
      const key = indirect(ix);
      if (key === undefined) throw new Error("value is nil; should be of type string");
      if (typeof key !== "string") {
        throw new Error(`value has type ${typeName(key)}; should be string`);
      }
      const m = v as Record<string, Value>;
      v = Object.hasOwn(m, key) ? m[key] : null;
    } else throw new Error(`can't index item of type ${typeName(v)}`);
  }
  return v;
}

function slice(item: Value, ...indexes: Value[]): Value {
  const v = indirect(item);
  if (v === undefined) throw new Error("slice of untyped nil");
  if (indexes.length > 3) throw new Error(`too many slice indexes: ${indexes.length}`);
  const k = kindOf(v);
  let seq: Uint8Array | readonly Value[];
  if (k === "string") {
    if (indexes.length === 3) throw new Error("cannot 3-index slice a string");
    seq = utf8(v as string);
  } else if (k === "slice") seq = v as Value[];
  else throw new Error(`can't slice item of type ${typeName(v)}`);
  const idx = [0, seq.length, seq.length];
  indexes.forEach((ix, i) => idx[i] = indexArg(ix, seq.length));
  if (idx[0] > idx[1]) throw new Error(`invalid slice index: ${idx[0]} > ${idx[1]}`);
  if (indexes.length === 3 && idx[1] > idx[2]) {
    throw new Error(`invalid slice index: ${idx[1]} > ${idx[2]}`);
  }
  const part = seq.slice(idx[0], idx[1]);
  return part instanceof Uint8Array ? fromUtf8(part) : part;
}

function length(item: Value): Value {
  if (item === null) throw new Error("len of nil pointer");
  switch (kindOf(item)) {
    case "invalid":
      throw new Error("len of untyped nil");
    case "string":
      return utf8(item as string).length;
    case "slice":
      return (item as Value[]).length;
    case "map":
      return Object.keys(item as object).length;
  }
  throw new Error(`len of type ${typeName(item)}`);
}

type BasicKind = "invalid" | "bool" | "int" | "float" | "string" | "other";

function basicKind(v: Value): BasicKind {
  const k = kindOf(v);
  if (k === "nil") return "invalid";
  if (k === "slice" || k === "map") return "other";
  return k;
}

const BAD_TYPE = "invalid type for comparison";
const BAD_COMPARISON = "incompatible types for comparison";

function eq(arg1: Value, ...rest: Value[]): boolean {
  const a = indirect(arg1);
  if (rest.length === 0) throw new Error("missing argument for comparison");
  const k1 = basicKind(a);
  for (const r of rest) {
    const b = indirect(r);
    const k2 = basicKind(b);
    let truth = false;
    if (k1 !== k2) {
      if (a !== undefined && b !== undefined) throw new Error(BAD_COMPARISON);
    } else if (k1 === "int" || k1 === "float") truth = num(a) === num(b);
    else if (k1 === "bool" || k1 === "string") truth = a === b;
    else if (k1 === "invalid") truth = true;
    else {
      // Go prints the values with %s, complaints included: map[a:%!s(int=1)]
      if (kindOf(a) !== kindOf(b)) {
        throw new Error(
          `non-comparable types ${sprintf("%s", [a])}: ${typeName(a)}, ${typeName(b)}: ${
            sprint([b])
          }`,
        );
      }
      throw new Error(`non-comparable type ${sprintf("%s", [b])}: ${typeName(b)}`);
    }
    if (truth) return true;
  }
  return false;
}

function lt(arg1: Value, arg2: Value): boolean {
  const a = indirect(arg1);
  const b = indirect(arg2);
  const k1 = basicKind(a);
  const k2 = basicKind(b);
  if (k1 === "invalid" || k1 === "other" || k2 === "invalid" || k2 === "other") {
    throw new Error(BAD_TYPE);
  }
  if (k1 !== k2) throw new Error(BAD_COMPARISON);
  if (k1 === "bool") throw new Error(BAD_TYPE);
  // Go compares strings byte-wise, which is code point order, not UTF-16 order.
  if (k1 === "string") return compareStrings(a as string, b as string) < 0;
  return num(a) < num(b);
}

/** Go's evalArgs for html, js and urlquery: one string as is, else Sprint of the arguments. */
function evalArgs(args: Value[]): string {
  if (args.length === 1 && typeof args[0] === "string") return args[0];
  return sprint(args.map((a) => (a === null || a === undefined ? "<no value>" : a)));
}

function htmlEscape(s: string): string {
  return s.replace(
    /[\0"'&<>]/g,
    (c) =>
      ({ "\0": "\uFFFD", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]!,
  );
}

function jsEscape(s: string): string {
  let out = "";
  for (const ch of s) {
    const r = ch.codePointAt(0)!;
    const special: Record<string, string> = {
      "\\": "\\\\",
      "'": "\\'",
      '"': '\\"',
      "<": "\\u003C",
      ">": "\\u003E",
      "&": "\\u0026",
      "=": "\\u003D",
    };
    if (special[ch]) out += special[ch];
    else if (r < 0x20) out += "\\u00" + r.toString(16).toUpperCase().padStart(2, "0");
    else if (r < 0x80 || isPrint(r)) out += ch;
    else out += "\\u" + r.toString(16).toUpperCase().padStart(4, "0");
  }
  return out;
}

function queryEscape(s: string): string {
  let out = "";
  for (const b of utf8(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === " ") out += "+";
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

const v = "value" as const;

/** Go's builtin functions. `and` and `or` are evaluated lazily by the executor. */
export const BUILTINS: Readonly<Record<string, TemplateFunction>> = {
  and: { params: [v], variadic: v, call: () => undefined },
  or: { params: [v], variadic: v, call: () => undefined },
  not: { params: [v], call: (a) => !isTrue(a) },
  len: { params: [v], call: length },
  index: { params: [v], variadic: v, call: index },
  slice: { params: [v], variadic: v, call: slice },
  call: {
    params: [v],
    variadic: v,
    call: (fn) => {
      if (fn === undefined || fn === null) throw new Error("call of nil");
      throw new Error(`non-function of type ${typeName(fn)}`);
    },
  },
  eq: { params: [v], variadic: v, call: eq },
  ne: { params: [v, v], call: (a, b) => !eq(a, b) },
  lt: { params: [v, v], call: lt },
  le: { params: [v, v], call: (a, b) => lt(a, b) || eq(a, b) },
  gt: { params: [v, v], call: (a, b) => !(lt(a, b) || eq(a, b)) },
  ge: { params: [v, v], call: (a, b) => !lt(a, b) },
  print: { params: [], variadic: "any", call: (...a) => sprint(a) },
  println: { params: [], variadic: "any", call: (...a) => sprintln(a) },
  printf: { params: ["string"], variadic: "any", call: (f, ...a) => sprintf(f, a) },
  html: { params: [], variadic: "any", call: (...a) => htmlEscape(evalArgs(a)) },
  js: { params: [], variadic: "any", call: (...a) => jsEscape(evalArgs(a)) },
  urlquery: { params: [], variadic: "any", call: (...a) => queryEscape(evalArgs(a)) },
};

/**
 * JSON as docker's `json` prints it: compact, `<>&` unescaped, object keys in their own
 * order (docker's structs print fields in declaration order; a Go map would sort them).
 */
export function toJSON(value: Value): string {
  const k = kindOf(value);
  switch (k) {
    case "invalid":
    case "nil":
      return "null";
    case "bool":
      return String(value);
    case "int":
    case "float": {
      const n = num(value);
      if (!Number.isFinite(n)) throw new Error(`json: unsupported value: ${sprint([value])}`);
      return Object.is(n, -0) ? "-0" : String(n);
    }
    case "string":
      return JSON.stringify(value).replace(
        /[\u2028\u2029]/g,
        (c) => c === "\u2028" ? "\\u2028" : "\\u2029",
      );
    case "slice":
      return `[${(value as Value[]).map(toJSON).join(",")}]`;
  }
  const m = value as Record<string, Value>;
  const parts = Object.keys(m).filter((key) => m[key] !== undefined)
    .map((key) => `${toJSON(key)}:${toJSON(m[key])}`);
  return `{${parts.join(",")}}`;
}

function isSeparator(ch: string): boolean {
  const r = ch.codePointAt(0)!;
  if (r <= 0x7f) return !/[0-9A-Za-z_]/.test(ch);
  if (/[\p{L}\p{Nd}]/u.test(ch)) return false;
  return /\s/u.test(ch);
}

/** Maps each rune on its own (Go's ToUpper/ToLower never turn one rune into two). */
function mapRunes(s: string, f: (c: string) => string): string {
  let out = "";
  for (const ch of s) {
    const m = f(ch);
    out += [...m].length === 1 ? m : ch;
  }
  return out;
}

/** Go's strings.Title: the first letter of every word in upper case. */
function title(s: string): string {
  let prev = " ";
  let out = "";
  for (const ch of s) {
    out += isSeparator(prev) ? mapRunes(ch, (c) => c.toUpperCase()) : ch;
    prev = ch;
  }
  return out;
}

function repeatSpaces(n: number): string {
  if (n < 0) throw new Error("strings: negative Repeat count");
  return " ".repeat(n);
}

/** docker's template functions (moby/cli templates/templates.go). */
export const DOCKER_FUNCTIONS: Readonly<Record<string, TemplateFunction>> = {
  json: {
    params: ["any"],
    call: (x) => {
      try {
        return toJSON(x);
      } catch {
        return ""; // docker ignores the encoder's error and prints nothing
      }
    },
  },
  split: {
    params: ["string", "string"],
    call: (s: string, sep: string) => (sep === "" ? [...s] : s.split(sep)),
  },
  // docker's join takes a []string; JSON-shaped lists are []interface{}, so join any list
  // and print elements that are not strings as %v does.
  join: {
    params: ["any", "string"],
    call: (list, sep: string) => {
      if (kindOf(list) !== "slice") throw new Error(`join of type ${typeName(list)}`);
      return (list as Value[]).map((e) => (typeof e === "string" ? e : sprint([e]))).join(sep);
    },
  },
  title: { params: ["string"], call: title },
  lower: { params: ["string"], call: (s: string) => mapRunes(s, (c) => c.toLowerCase()) },
  upper: { params: ["string"], call: (s: string) => mapRunes(s, (c) => c.toUpperCase()) },
  pad: {
    params: ["string", "int", "int"],
    call: (s: string, pre: number, post: number) =>
      s === "" ? s : repeatSpaces(pre) + s + repeatSpaces(post),
  },
  truncate: {
    params: ["string", "int"],
    call: (s: string, n: number) => {
      const b = utf8(s);
      if (b.length < n) return s;
      if (n < 0) throw new Error(`slice bounds out of range [:${n}]`);
      return fromUtf8(b.slice(0, n));
    },
  },
};

const same = (x: Value) => x;

/**
 * docker's header functions: a table's header row runs the same template on the column
 * names, with these in place of the functions that would change a name (pad stays, to
 * keep the columns aligned).
 */
export const HEADER_FUNCTIONS: Readonly<Record<string, TemplateFunction>> = {
  json: { params: ["any"], call: same },
  split: { params: ["any", "any"], call: same },
  join: { params: ["any", "any"], call: same },
  title: { params: ["any"], call: same },
  lower: { params: ["any"], call: same },
  upper: { params: ["any"], call: same },
  truncate: { params: ["any", "any"], call: same },
};
