/**
 * The parser of Go's text/template: the node tree of a template and of the templates it
 * defines (`{{define}}`, `{{block}}`), with Go's checks at parse time (unknown functions,
 * undefined variables, `{{break}}` outside `{{range}}`, literals in later pipeline stages).
 * @module
 */

import { isKeyword, type Item, type ItemType, lex } from "./_lex.ts";
import { quote } from "./_fmt.ts";
import { TemplateError } from "./_error.ts";

interface At {
  /** Where the node starts in the template text (a UTF-16 index). */
  pos: number;
}

/** Plain text between actions. */
export interface TextNode extends At {
  type: "text";
  text: string;
}
/** `{{pipeline}}`: prints the value unless the pipeline declares variables. */
export interface ActionNode extends At {
  type: "action";
  pipe: PipeNode;
}
/** `{{if}}`, `{{range}}` or `{{with}}` with its lists. */
export interface BranchNode extends At {
  type: "if" | "range" | "with";
  pipe: PipeNode;
  list: ListNode;
  elseList?: ListNode;
}
/** A sequence of nodes. */
export interface ListNode extends At {
  type: "list";
  nodes: Node[];
}
/** `{{template "name" pipeline}}`. */
export interface TemplateNode extends At {
  type: "template";
  name: string;
  pipe?: PipeNode;
}
/** `{{break}}` or `{{continue}}` inside a range. */
export interface LoopNode extends At {
  type: "break" | "continue";
}
/** Commands joined by `|`, optionally declaring or assigning variables. */
export interface PipeNode extends At {
  type: "pipe";
  isAssign: boolean;
  decl: VariableNode[];
  cmds: CommandNode[];
}
/** One stage of a pipeline: a function, field, variable or literal and its arguments. */
export interface CommandNode extends At {
  type: "command";
  args: Node[];
}
/** `.A.B`: fields of dot. */
export interface FieldNode extends At {
  type: "field";
  ident: string[];
}
/** `$x` or `$x.A.B`. */
export interface VariableNode extends At {
  type: "variable";
  ident: string[];
}
/** `(pipeline).A.B`: fields of a parenthesised pipeline or function result. */
export interface ChainNode extends At {
  type: "chain";
  node: Node;
  field: string[];
}
/** A function name. */
export interface IdentifierNode extends At {
  type: "identifier";
  name: string;
}
/** `.`, `nil`. */
export interface SimpleNode extends At {
  type: "dot" | "nil";
}
/** `true` or `false`. */
export interface BoolNode extends At {
  type: "bool";
  value: boolean;
}
/** A number constant with the types it can take, as Go's NumberNode. */
export interface NumberNode extends At {
  type: "number";
  text: string;
  isInt: boolean;
  isFloat: boolean;
  int: number;
  float: number;
}
/** A quoted or raw string constant. */
export interface StringNode extends At {
  type: "string";
  quoted: string;
  text: string;
}
/** `{{end}}` and `{{else}}` while parsing; never in a finished tree. */
export interface MarkNode extends At {
  type: "end" | "else";
}

/** Any node of a template tree. */
export type Node =
  | TextNode
  | ActionNode
  | BranchNode
  | ListNode
  | TemplateNode
  | LoopNode
  | PipeNode
  | CommandNode
  | FieldNode
  | VariableNode
  | ChainNode
  | IdentifierNode
  | SimpleNode
  | BoolNode
  | NumberNode
  | StringNode
  | MarkNode;

/** Line (1-based) and column (0-based byte offset in the line, as Go counts) of a position. */
export function location(text: string, pos: number): { line: number; col: number } {
  const before = text.slice(0, pos);
  const nl = before.lastIndexOf("\n");
  let line = 1;
  for (const c of before) if (c === "\n") line++;
  return { line, col: new TextEncoder().encode(before.slice(nl + 1)).length };
}

/** Go's String() of a node, used in error messages (`at <.Foo>`). */
export function nodeString(n: Node): string {
  switch (n.type) {
    case "text":
      return n.text;
    case "action":
      return `{{${nodeString(n.pipe)}}}`;
    case "if":
    case "range":
    case "with":
      return `{{${n.type} ${nodeString(n.pipe)}}}${nodeString(n.list)}` +
        (n.elseList ? `{{else}}${nodeString(n.elseList)}` : "") + "{{end}}";
    case "list":
      return n.nodes.map(nodeString).join("");
    case "template":
      return `{{template ${quote(n.name)}${n.pipe ? " " + nodeString(n.pipe) : ""}}}`;
    case "break":
    case "continue":
      return `{{${n.type}}}`;
    case "pipe":
      return (n.decl.length ? n.decl.map(nodeString).join(", ") + " := " : "") +
        n.cmds.map(nodeString).join(" | ");
    case "command":
      return n.args.map((a) => a.type === "pipe" ? `(${nodeString(a)})` : nodeString(a)).join(
        " ",
      );
    case "field":
      return n.ident.map((i) => "." + i).join("");
    case "variable":
      return n.ident.join(".");
    case "chain":
      return (n.node.type === "pipe" ? `(${nodeString(n.node)})` : nodeString(n.node)) +
        n.field.map((f) => "." + f).join("");
    case "identifier":
      return n.name;
    case "dot":
      return ".";
    case "nil":
      return "nil";
    case "bool":
      return String(n.value);
    case "number":
      return n.text;
    case "string":
      return n.quoted;
    case "end":
    case "else":
      return `{{${n.type}}}`;
  }
}

/** Go's strconv.Unquote for the three quote styles a template uses. */
function unquote(s: string): string {
  const q = s[0];
  if (q === "`") return s.slice(1, -1).replaceAll("\r", "");
  const body = s.slice(1, -1);
  const bytes: number[] = [];
  const enc = new TextEncoder();
  const push = (str: string) => bytes.push(...enc.encode(str));
  for (let i = 0; i < body.length;) {
    const c = body[i];
    if (c === q) throw new Error("invalid syntax");
    if (c !== "\\") {
      const ch = String.fromCodePoint(body.codePointAt(i)!);
      push(ch);
      i += ch.length;
      continue;
    }
    const e = body[i + 1];
    i += 2;
    const simple: Record<string, string> = {
      a: "\x07",
      b: "\b",
      f: "\f",
      n: "\n",
      r: "\r",
      t: "\t",
      v: "\v",
      "\\": "\\",
    };
    if (e in simple) push(simple[e]);
    else if (e === q) push(q);
    else if (e === "x" || e === "u" || e === "U") {
      const n = e === "x" ? 2 : e === "u" ? 4 : 8;
      const h = body.slice(i, i + n);
      if (!/^[0-9a-fA-F]+$/.test(h) || h.length !== n) throw new Error("invalid syntax");
      i += n;
      const v = parseInt(h, 16);
      if (e === "x") bytes.push(v);
      else if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) throw new Error("invalid syntax");
      else push(String.fromCodePoint(v));
    } else if (e >= "0" && e <= "7") {
      const o = body.slice(i - 1, i + 2);
      if (!/^[0-7]{3}$/.test(o)) throw new Error("invalid syntax");
      const v = parseInt(o, 8);
      if (v > 255) throw new Error("invalid syntax");
      bytes.push(v);
      i += 2;
    } else throw new Error("invalid syntax");
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** Parses a Go integer literal (with base prefixes and underscores); undefined if it is not one. */
function parseGoInt(text: string): bigint | undefined {
  let s = text;
  let neg = false;
  if (s[0] === "+" || s[0] === "-") {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  let base = 10;
  let digits = s;
  let prefixed = false;
  if (/^0[xX]/.test(s)) [base, digits, prefixed] = [16, s.slice(2), true];
  else if (/^0[bB]/.test(s)) [base, digits, prefixed] = [2, s.slice(2), true];
  else if (/^0[oO]/.test(s)) [base, digits, prefixed] = [8, s.slice(2), true];
  else if (/^0[0-9_]/.test(s)) [base, digits] = [8, s.slice(1)];
  if (digits.includes("_")) {
    if (!/^_?[^_]+(_[^_]+)*$/.test(digits) || (digits[0] === "_" && !prefixed && base !== 8)) {
      return undefined;
    }
    digits = digits.replaceAll("_", "");
  }
  const valid = { 2: /^[01]+$/, 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ }[base]!;
  if (!valid.test(digits)) return s === "0" ? 0n : undefined;
  const prefix = { 2: "0b", 8: "0o", 10: "", 16: "0x" }[base];
  const v = BigInt(prefix + digits);
  return neg ? -v : v;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Builds a number node as Go's newNumber does: which of int and float64 the text can be. */
function newNumber(pos: number, text: string, typ: ItemType): NumberNode {
  const n: NumberNode = {
    type: "number",
    pos,
    text,
    isInt: false,
    isFloat: false,
    int: 0,
    float: 0,
  };
  if (typ === "charConstant") {
    let r: number;
    try {
      const s = unquote(text);
      if ([...s].length !== 1) throw new Error(`malformed character constant: ${text}`);
      r = s.codePointAt(0)!;
    } catch {
      throw new Error(`malformed character constant: ${text}`);
    }
    return { ...n, isInt: true, int: r, isFloat: true, float: r };
  }
  if (typ === "complex" || text.endsWith("i")) {
    throw new Error(`complex number ${text} is not supported`);
  }
  const i = parseGoInt(text);
  if (i !== undefined) {
    if (i >= INT64_MIN && i <= INT64_MAX) {
      return { ...n, isInt: true, int: Number(i), isFloat: true, float: Number(i) };
    }
    if (i >= 0n && i < 2n ** 64n) return { ...n, isFloat: true, float: Number(i) };
    throw new Error(`integer overflow: ${quote(text)}`);
  }
  const clean = text.replaceAll("_", "");
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(clean)) {
    const f = Number(clean);
    if (!/[.eE]/.test(clean)) throw new Error(`integer overflow: ${quote(text)}`);
    const isInt = Number.isInteger(f) && Math.abs(f) < 2 ** 63;
    return { ...n, isFloat: true, float: f, isInt, int: isInt ? f : 0 };
  }
  throw new Error(`illegal number syntax: ${quote(text)}`);
}

/** How Go prints a token in "unexpected X in Y". */
function itemString(i: Item): string {
  if (i.typ === "eof") return "EOF";
  if (i.typ === "error") return i.val;
  if (isKeyword(i.typ)) return `<${i.val}>`;
  const runes = [...i.val];
  if (runes.length > 10) return quote(runes.slice(0, 10).join("")) + "...";
  return quote(i.val);
}

/** What the parser produces: the main template and every template it defines. */
export interface Parsed {
  root: ListNode;
  defined: Map<string, ListNode>;
}

function isEmptyTree(n: Node): boolean {
  if (n.type === "list") return n.nodes.every(isEmptyTree);
  if (n.type === "text") return n.text.trim() === "";
  return false;
}

/**
 * Parses a template. `hasFunction` says which identifiers are functions (Go refuses an
 * unknown one at parse time).
 */
export function parse(
  text: string,
  opts: { name: string; hasFunction: (name: string) => boolean },
): Parsed {
  const items = lex(text);
  let i = 0;
  let furthest = 0;
  let vars: string[] = ["$"];
  let rangeDepth = 0;
  let actionLine = 0;
  const defined = new Map<string, ListNode>();

  const fail = (msg: string): never => {
    const tok = items[Math.min(furthest, items.length - 1)];
    const { line, col } = location(text, tok.pos);
    throw new TemplateError(`template: ${opts.name}:${line}:${col}: ${msg}`, "parse");
  };
  const next = (): Item => {
    const it = items[Math.min(i, items.length - 1)];
    i = Math.min(i + 1, items.length);
    furthest = Math.max(furthest, i - 1);
    return it;
  };
  const backup = () => i--;
  const peek = (): Item => {
    const it = items[Math.min(i, items.length - 1)];
    furthest = Math.max(furthest, Math.min(i, items.length - 1));
    return it;
  };
  const nextNonSpace = (): Item => {
    for (;;) {
      const t = next();
      if (t.typ !== "space") return t;
    }
  };
  const peekNonSpace = (): Item => {
    const t = nextNonSpace();
    backup();
    return t;
  };
  const unexpected = (t: Item, context: string): never => {
    if (t.typ === "error") {
      let extra = "";
      if (actionLine !== 0 && actionLine !== t.line) {
        extra = ` in action started at ${opts.name}:${actionLine}`;
        if (t.val.endsWith(" action")) extra = extra.slice(" in action".length);
      }
      return fail(t.val + extra);
    }
    return fail(`unexpected ${itemString(t)} in ${context}`);
  };
  const expect = (typ: ItemType, context: string): Item => {
    const t = nextNonSpace();
    if (t.typ !== typ) unexpected(t, context);
    return t;
  };
  const guard = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof TemplateError) throw e;
      return fail((e as Error).message);
    }
  };

  const add = (name: string, root: ListNode) => {
    const old = defined.get(name);
    if (!old || isEmptyTree(old)) defined.set(name, root);
    else if (!isEmptyTree(root)) fail(`template: multiple definition of template ${quote(name)}`);
  };

  const itemList = (): [ListNode, Node] => {
    const list: ListNode = { type: "list", pos: peekNonSpace().pos, nodes: [] };
    while (peekNonSpace().typ !== "eof") {
      const n = textOrAction();
      if (n.type === "end" || n.type === "else") return [list, n];
      list.nodes.push(n);
    }
    return fail("unexpected EOF");
  };

  const textOrAction = (): Node => {
    const t = nextNonSpace();
    if (t.typ === "text") return { type: "text", pos: t.pos, text: t.val };
    if (t.typ === "leftDelim") {
      actionLine = t.line;
      try {
        return action();
      } finally {
        actionLine = 0;
      }
    }
    return unexpected(t, "input");
  };

  const action = (): Node => {
    const t = nextNonSpace();
    switch (t.typ) {
      case "block":
        return blockControl();
      case "break":
      case "continue": {
        const tok = nextNonSpace();
        if (tok.typ !== "rightDelim") unexpected(tok, `{{${t.typ}}}`);
        if (rangeDepth === 0) fail(`{{${t.typ}}} outside {{range}}`);
        return { type: t.typ, pos: t.pos };
      }
      case "else": {
        const p = peekNonSpace();
        if (p.typ === "if") return { type: "else", pos: p.pos };
        return { type: "else", pos: expect("rightDelim", "else").pos };
      }
      case "end":
        return { type: "end", pos: expect("rightDelim", "end").pos };
      case "if":
      case "range":
      case "with":
        return control(t.typ);
      case "template":
        return templateControl();
    }
    backup();
    const tok = peek();
    return { type: "action", pos: tok.pos, pipe: pipeline("command", "rightDelim") };
  };

  const control = (kind: "if" | "range" | "with"): BranchNode => {
    const mark = vars.length;
    try {
      const pipe = pipeline(kind, "rightDelim");
      if (kind === "range") rangeDepth++;
      let [list, next] = itemList();
      if (kind === "range") rangeDepth--;
      let elseList: ListNode | undefined;
      if (next.type === "else") {
        if (kind === "if" && peek().typ === "if") {
          nextNonSpace();
          elseList = { type: "list", pos: next.pos, nodes: [control("if")] };
        } else {
          [elseList, next] = itemList();
          if (next.type !== "end") fail(`expected end; found ${nodeString(next)}`);
        }
      }
      return { type: kind, pos: pipe.pos, pipe, list, elseList };
    } finally {
      vars = vars.slice(0, mark);
    }
  };

  const templateName = (t: Item, context: string): string => {
    if (t.typ !== "string" && t.typ !== "rawString") unexpected(t, context);
    return guard(() => unquote(t.val));
  };

  const templateControl = (): TemplateNode => {
    const t = nextNonSpace();
    const name = templateName(t, "template clause");
    let pipe: PipeNode | undefined;
    if (nextNonSpace().typ !== "rightDelim") {
      backup();
      pipe = pipeline("template clause", "rightDelim");
    }
    return { type: "template", pos: t.pos, name, pipe };
  };

  const blockControl = (): TemplateNode => {
    const t = nextNonSpace();
    const name = templateName(t, "block clause");
    const pipe = pipeline("block clause", "rightDelim");
    const saved = vars;
    vars = ["$"];
    const [root, end] = itemList();
    vars = saved;
    if (end.type !== "end") fail(`unexpected ${nodeString(end)} in block clause`);
    add(name, root);
    return { type: "template", pos: t.pos, name, pipe };
  };

  const parseDefinition = () => {
    const t = nextNonSpace();
    if (t.typ !== "string" && t.typ !== "rawString") unexpected(t, "define clause");
    const name = guard(() => unquote(t.val));
    expect("rightDelim", "define clause");
    const saved = vars;
    vars = ["$"];
    const [root, end] = itemList();
    vars = saved;
    if (end.type !== "end") fail(`unexpected ${nodeString(end)} in define clause`);
    add(name, root);
  };

  const pipeline = (context: string, end: ItemType): PipeNode => {
    const first = peekNonSpace();
    const pipe: PipeNode = { type: "pipe", pos: first.pos, isAssign: false, decl: [], cmds: [] };
    for (;;) {
      const v = peekNonSpace();
      if (v.typ !== "variable") break;
      const at = i;
      next();
      const nx = peekNonSpace();
      if (nx.typ === "assign" || nx.typ === "declare") {
        pipe.isAssign = nx.typ === "assign";
        nextNonSpace();
        pipe.decl.push({ type: "variable", pos: v.pos, ident: [v.val] });
        vars.push(v.val);
        break;
      }
      if (nx.typ === "char" && nx.val === ",") {
        nextNonSpace();
        pipe.decl.push({ type: "variable", pos: v.pos, ident: [v.val] });
        vars.push(v.val);
        if (context === "range" && pipe.decl.length < 2) {
          const p = peekNonSpace().typ;
          if (p === "variable" || p === "rightDelim" || p === "rightParen") continue;
          fail("range can only initialize variables");
        }
        fail(`too many declarations in ${context}`);
      }
      i = at;
      break;
    }
    for (;;) {
      const t = nextNonSpace();
      if (t.typ === end) {
        if (pipe.cmds.length === 0) fail(`missing value for ${context}`);
        pipe.cmds.slice(1).forEach((c, k) => {
          if (["bool", "dot", "nil", "number", "string"].includes(c.args[0].type)) {
            fail(`non executable command in pipeline stage ${k + 2}`);
          }
        });
        return pipe;
      }
      switch (t.typ) {
        case "bool":
        case "charConstant":
        case "complex":
        case "dot":
        case "field":
        case "identifier":
        case "number":
        case "nil":
        case "rawString":
        case "string":
        case "variable":
        case "leftParen":
          backup();
          pipe.cmds.push(command());
          continue;
      }
      unexpected(t, context);
    }
  };

  const command = (): CommandNode => {
    const cmd: CommandNode = { type: "command", pos: peekNonSpace().pos, args: [] };
    for (;;) {
      peekNonSpace();
      const op = operand();
      if (op) cmd.args.push(op);
      const t = next();
      if (t.typ === "space") continue;
      if (t.typ === "rightDelim" || t.typ === "rightParen") backup();
      else if (t.typ !== "pipe") unexpected(t, "operand");
      break;
    }
    if (cmd.args.length === 0) fail("empty command");
    return cmd;
  };

  const operand = (): Node | undefined => {
    const node = term();
    if (!node || peek().typ !== "field") return node;
    const pos = peek().pos;
    const fields: string[] = [];
    while (peek().typ === "field") fields.push(next().val.slice(1));
    switch (node.type) {
      case "field":
        return { type: "field", pos, ident: [...node.ident, ...fields] };
      case "variable":
        return { type: "variable", pos, ident: [...node.ident, ...fields] };
      case "bool":
      case "string":
      case "number":
      case "nil":
      case "dot":
        return fail(`unexpected . after term ${quote(nodeString(node))}`);
    }
    return { type: "chain", pos, node, field: fields };
  };

  const term = (): Node | undefined => {
    const t = nextNonSpace();
    switch (t.typ) {
      case "identifier":
        if (!opts.hasFunction(t.val)) fail(`function ${quote(t.val)} not defined`);
        return { type: "identifier", pos: t.pos, name: t.val };
      case "dot":
        return { type: "dot", pos: t.pos };
      case "nil":
        return { type: "nil", pos: t.pos };
      case "variable":
        if (!vars.includes(t.val)) fail(`undefined variable ${quote(t.val)}`);
        return { type: "variable", pos: t.pos, ident: [t.val] };
      case "field":
        return { type: "field", pos: t.pos, ident: [t.val.slice(1)] };
      case "bool":
        return { type: "bool", pos: t.pos, value: t.val === "true" };
      case "charConstant":
      case "complex":
      case "number":
        return guard(() => newNumber(t.pos, t.val, t.typ));
      case "leftParen":
        return pipeline("parenthesized pipeline", "rightParen");
      case "string":
      case "rawString":
        return { type: "string", pos: t.pos, quoted: t.val, text: guard(() => unquote(t.val)) };
    }
    backup();
    return undefined;
  };

  const root: ListNode = { type: "list", pos: peek().pos, nodes: [] };
  while (peek().typ !== "eof") {
    if (peek().typ === "leftDelim") {
      const at = i;
      next();
      if (nextNonSpace().typ === "define") {
        const saved = vars;
        vars = ["$"];
        parseDefinition();
        vars = saved;
        continue;
      }
      i = at;
    }
    const n = textOrAction();
    if (n.type === "end" || n.type === "else") fail(`unexpected ${nodeString(n)}`);
    root.nodes.push(n);
  }
  add(opts.name, root);
  return { root: defined.get(opts.name) ?? root, defined };
}
