/**
 * How commands print: the whole of a text (lists end their own lines),
 * and inspected objects as docker prints them (a JSON array indented by
 * four spaces, or each object through `-f TEMPLATE`).
 * @module
 */

import { formatObject, TemplateError } from "../format/mod.ts";
import type { OptionSpec } from "./args.ts";

/** `--format` of a list command: docker's template forms. */
export const LIST_FORMAT: OptionSpec = {
  name: "format",
  type: "string",
  arg: "TEMPLATE",
  help: "Pretty-print with a Go template; table, table TEMPLATE, json",
};

/** `-f, --format` of an inspect command. */
export const INSPECT_FORMAT: OptionSpec = {
  name: "format",
  short: "f",
  type: "string",
  arg: "TEMPLATE",
  help: "Format the output using the given Go template",
};

/** `-f, --filter` of a list command, naming the keys it takes. */
export function filterOption(keys: readonly string[]): OptionSpec {
  return {
    name: "filter",
    short: "f",
    type: "list",
    arg: "KEY=VALUE",
    help: `Filter output: ${keys.join(", ")}`,
  };
}

const enc = new TextEncoder();

/** Writes all of `text` to stdout as it is (console.log would add a newline). */
export async function writeOut(text: string): Promise<void> {
  const b = enc.encode(text);
  for (let off = 0; off < b.length;) off += await Deno.stdout.write(b.subarray(off));
}

/** Prints lines that each end in a newline (a list's output); nothing for none. */
export function printLines(text: string): void {
  if (text !== "") console.log(text.endsWith("\n") ? text.slice(0, -1) : text);
}

/**
 * Evaluates `inspect -f TEMPLATE` on one object: Go's template language with docker's
 * functions (lib/format). A field the object does not have is an error naming it, as in
 * `docker inspect` on raw JSON (missingkey=error), rather than a silent `<no value>`.
 */
export function formatTemplate(tpl: string, obj: unknown): string {
  return formatObject(tpl, obj, { missingKey: "error" });
}

/**
 * Prints inspected objects as docker does: a JSON array (4 spaces), or each
 * through `-f TEMPLATE`. Returns 1 when a template failed on an object.
 */
export function printInspected(found: readonly unknown[], format: string | undefined): number {
  if (!format) {
    console.log(JSON.stringify(found, null, 4));
    return 0;
  }
  let code = 0;
  for (const o of found) {
    try {
      console.log(formatTemplate(format, o));
    } catch (e) {
      // A template that does not parse fails the command; one that fails on an
      // object fails that object only, as in docker.
      if (!(e instanceof TemplateError) || e.stage === "parse") throw e;
      console.error(`ctr: ${e.message}`);
      code = 1;
    }
  }
  return code;
}
