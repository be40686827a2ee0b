/**
 * What the config readers share to report problems: paths into a document,
 * zod schemas with a rule run after their own, and the words for what a
 * value is ("expected a list, got a string ("x")"). The YAML reader speaks
 * of mappings, config.json of objects: the words are parameters.
 * @module
 */

import type * as z from "zod";

/** A path into a document: keys and list indexes. */
export type Path = readonly (string | number)[];

/** A value check: the problem, or undefined when the value is fine. */
export type Check<T> = (value: T) => string | undefined;

/** A schema with a value check run after its own. */
export function checked<T extends z.ZodType>(schema: T, check: Check<z.output<T>>) {
  return schema.superRefine((value, ctx) => {
    const problem = check(value);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: value });
  });
}

/** How a document's paths are written. */
export interface PathStyle {
  /** Keys written after a dot; others are quoted in brackets. */
  readonly word: RegExp;
  /** The path of the document itself. */
  readonly top: string;
}

/** `containers.db.ports[0]`, `linux.namespaces[2].type`; keys that are not words are quoted. */
export function formatPath(path: Path, style: PathStyle): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (style.word.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out || style.top;
}

/** The value at `path`, and whether it is there at all. */
export function valueAt(data: unknown, path: Path): { found: boolean; value?: unknown } {
  let value = data;
  for (const seg of path) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, seg)) {
      return { found: false };
    }
    value = (value as Record<string | number, unknown>)[seg];
  }
  return { found: true, value };
}

/** The words for values of a document format. */
export interface ValueWords {
  /** What an object is called: "a mapping" (YAML), "an object" (JSON). */
  readonly object: string;
  /** What null is called: "nothing" (YAML's empty value), "null" (JSON). */
  readonly null: string;
}

/** What a value is, for "expected ..., got ...". */
export function describe(value: unknown, words: ValueWords): string {
  if (value === null) return words.null;
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (value instanceof Uint8Array) return "binary data";
  if (typeof value === "object") return words.object;
  if (typeof value === "boolean") return `${value}`;
  if (typeof value === "number") return `a number (${value})`;
  if (typeof value === "string") {
    return `a string (${JSON.stringify(value.length > 40 ? value.slice(0, 37) + "..." : value)})`;
  }
  return `a ${typeof value}`;
}
