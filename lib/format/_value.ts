/**
 * The values a template works on, seen as Go sees JSON decoded into `interface{}`:
 * objects are `map[string]interface {}`, arrays `[]interface {}`, a number is an `int`
 * when it is a safe integer and a `float64` otherwise, `null` is a nil interface and
 * `undefined` is Go's invalid value (what a missing map key yields, printed `<no value>`).
 * @module
 */

/**
 * A float64 whose value happens to be integral (`1.0`, `1e3` in a template): JavaScript
 * cannot tell it from an int, Go can (`printf "%d" 1.0` is an error there).
 */
export class GoFloat {
  /** Wraps a float64. */
  constructor(readonly value: number) {}
}

/** Any value a template can hold. */
export type Value =
  | undefined
  | null
  | boolean
  | number
  | string
  | GoFloat
  | readonly Value[]
  | { readonly [key: string]: Value };

/** Go's kinds, as far as JSON-shaped data has them. */
export type Kind = "invalid" | "nil" | "bool" | "int" | "float" | "string" | "slice" | "map";

/** The kind of a value. */
export function kindOf(v: unknown): Kind {
  if (v === undefined) return "invalid";
  if (v === null) return "nil";
  switch (typeof v) {
    case "boolean":
      return "bool";
    case "number":
      return Number.isSafeInteger(v) ? "int" : "float";
    case "string":
      return "string";
  }
  if (v instanceof GoFloat) return "float";
  if (Array.isArray(v)) return "slice";
  return "map";
}

/** The number in an int or float value. */
export function num(v: unknown): number {
  if (v instanceof GoFloat) return v.value;
  return v as number;
}

/** A float64 value: integral results keep their float type. */
export function float(x: number): number | GoFloat {
  return Number.isSafeInteger(x) ? new GoFloat(x) : x;
}

/** Go's name for the type of a value, as `%T` and error messages print it. */
export function typeName(v: unknown): string {
  switch (kindOf(v)) {
    case "invalid":
    case "nil":
      return "<nil>";
    case "bool":
      return "bool";
    case "int":
      return "int";
    case "float":
      return "float64";
    case "string":
      return "string";
    case "slice":
      return "[]interface {}";
    default:
      return "map[string]interface {}";
  }
}

/** Go's truth of a value in `if`, `with`, `and`, `or`, `not`: non-zero, non-empty. */
export function isTrue(v: unknown): boolean {
  switch (kindOf(v)) {
    case "invalid":
    case "nil":
      return false;
    case "bool":
      return v as boolean;
    case "int":
    case "float":
      return num(v) !== 0;
    case "string":
      return (v as string).length > 0;
    case "slice":
      return (v as unknown[]).length > 0;
    default:
      return Object.keys(v as object).length > 0;
  }
}

/** Compares strings by code point, which is the byte order of their UTF-8 (Go's string order). */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/** The keys of a map in Go's order (sorted), as `range` and `fmt` visit them. */
export function sortedKeys(m: object): string[] {
  return Object.keys(m).sort(compareStrings);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The UTF-8 bytes of a string: Go's `len`, `index` and `slice` count bytes, not characters. */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Decodes UTF-8 bytes; a rune cut in half becomes U+FFFD (Go would keep the raw byte). */
export function fromUtf8(b: Uint8Array): string {
  return decoder.decode(b);
}
