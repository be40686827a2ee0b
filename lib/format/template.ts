/**
 * Go's text/template, as docker's `--format` uses it, on JSON-shaped data.
 *
 * The language is Go's: `{{.A.B}}`, `{{.}}`, `{{$}}`, variables (`{{$x := .A}}`,
 * `{{$x = 1}}`, `{{range $i, $e := .L}}`), pipelines with `|`, `if`/`else if`/`else`,
 * `range` (maps in sorted key order) with `else`, `break` and `continue`, `with`,
 * `define`/`template`/`block`, trim markers `{{- ` and ` -}}`, comments, literals (strings,
 * raw strings, numbers, characters, booleans, nil) and parenthesised pipelines; Go's
 * builtins (and or not len index slice eq ne lt le gt ge print printf println html js
 * urlquery call) and docker's functions (json split join title lower upper pad truncate).
 *
 * Data is seen as Go sees JSON decoded into `interface{}`: every object is a map. A missing
 * key prints `<no value>` as in Go (or is an error with `missingKey: "error"`, Go's
 * `missingkey=error`, which is what `docker inspect` uses on raw JSON); a field of a value
 * that is not a map (`.Name.First` on a string) is an error. Integral numbers are Go ints,
 * others float64; `null` is a nil interface. Errors are one line in Go's shape with the
 * position: `template: :1:8: executing "" at <.Foo>: map has no entry for key "Foo"`
 * (parse errors carry the column too, which Go leaves out).
 * @module
 */

import { TemplateError } from "./_error.ts";
import { execute } from "./_exec.ts";
import {
  BUILTINS,
  DOCKER_FUNCTIONS,
  HEADER_FUNCTIONS,
  type ParamType,
  type TemplateFunction,
  toJSON,
} from "./_funcs.ts";
import { type Node, parse } from "./_parse.ts";
import { sprint, sprintf } from "./_fmt.ts";

export { DOCKER_FUNCTIONS, HEADER_FUNCTIONS, sprint, sprintf, TemplateError, toJSON };
export type { ParamType, TemplateFunction };

/** How a template is parsed and executed. */
export interface TemplateOptions {
  /** The name in error messages (`template: NAME:1:2: ...`); docker's templates have "". */
  name?: string;
  /** Functions besides Go's builtins; docker's functions when not given. */
  funcs?: Readonly<Record<string, TemplateFunction>>;
  /** A missing map key: `<no value>` ("default", Go's default) or an error ("error"). */
  missingKey?: "default" | "error";
}

/** A parsed template, ready to execute on any number of values. */
export class Template {
  /** Parses; use {@link parseTemplate}. */
  constructor(
    readonly text: string,
    private readonly root: Node,
    private readonly defined: ReadonlyMap<string, Node>,
    private readonly opts: Required<TemplateOptions>,
  ) {}

  /**
   * Executes on data and returns what it prints. `funcs` replace functions for this
   * execution only (docker runs a table's header with HEADER_FUNCTIONS this way).
   */
  execute(
    data: unknown,
    opts: { funcs?: Readonly<Record<string, TemplateFunction>> } = {},
  ): string {
    return execute({
      text: this.text,
      name: this.opts.name,
      root: this.root,
      defined: this.defined,
      funcs: { ...this.opts.funcs, ...opts.funcs },
      missingKeyError: this.opts.missingKey === "error",
    }, data);
  }

  /** Every field chain the template reads from dot (`{{.State.Pid}}` gives ["State","Pid"]). */
  fields(): string[][] {
    const out: string[][] = [];
    const visit = (n: unknown) => {
      if (!n || typeof n !== "object") return;
      if (Array.isArray(n)) return n.forEach(visit);
      const node = n as Node;
      if (node.type === "field") out.push(node.ident);
      for (const v of Object.values(node)) if (v && typeof v === "object") visit(v);
    };
    visit(this.root);
    for (const t of this.defined.values()) if (t !== this.root) visit(t);
    return out;
  }
}

/** Parses a template; throws {@link TemplateError} with Go's message and the position. */
export function parseTemplate(text: string, opts: TemplateOptions = {}): Template {
  const full: Required<TemplateOptions> = {
    name: opts.name ?? "",
    funcs: opts.funcs ?? DOCKER_FUNCTIONS,
    missingKey: opts.missingKey ?? "default",
  };
  const known = (name: string) => Object.hasOwn(full.funcs, name) || Object.hasOwn(BUILTINS, name);
  const { root, defined } = parse(text, { name: full.name, hasFunction: known });
  return new Template(text, root, defined, full);
}

/** Parses and executes in one step: `renderTemplate("{{.State.Pid}}", inspect)`. */
export function renderTemplate(text: string, data: unknown, opts: TemplateOptions = {}): string {
  return parseTemplate(text, opts).execute(data);
}
