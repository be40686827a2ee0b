/**
 * The executor of Go's text/template (exec.go) on JSON-shaped values: dot and variables,
 * field chains on maps, pipelines with their final argument, function calls with Go's
 * argument checks, if/with/range/template, and errors naming the node they happened at.
 * @module
 */

import { TemplateError } from "./_error.ts";
import { sprint } from "./_fmt.ts";
import { BUILTINS, type ParamType, type TemplateFunction } from "./_funcs.ts";
import {
  type BranchNode,
  type ChainNode,
  type CommandNode,
  type FieldNode,
  type IdentifierNode,
  location,
  type Node,
  nodeString,
  type NumberNode,
  type PipeNode,
  type TemplateNode,
  type VariableNode,
} from "./_parse.ts";
import { float, isTrue, kindOf, sortedKeys, typeName, type Value } from "./_value.ts";
import { quote } from "./_fmt.ts";

/** What an execution needs from its template. */
export interface ExecContext {
  /** The template text (positions in errors are computed from it). */
  text: string;
  /** The template's name, "" for docker's. */
  name: string;
  /** The main tree and the defined templates. */
  root: Node;
  defined: ReadonlyMap<string, Node>;
  /** Functions besides the builtins (looked up first, as Go does). */
  funcs: Readonly<Record<string, TemplateFunction>>;
  /** Whether a missing map key is an error (Go's missingkey=error) or `<no value>`. */
  missingKeyError: boolean;
}

const MISSING = Symbol("missing");
type Arg = Value | typeof MISSING;
const BREAK = Symbol("break");
const CONTINUE = Symbol("continue");
/** Deeper `{{template}}` recursion than this is refused (Go allows 100000 on its own stack). */
const MAX_DEPTH = 1000;

const GO_TYPE: Record<ParamType, string> = {
  value: "reflect.Value",
  any: "interface {}",
  string: "string",
  int: "int",
  float: "float64",
  bool: "bool",
};

/** One execution: output, the node being evaluated (for errors), the variable stack. */
class State {
  out: string[] = [];
  node: Node | undefined;
  vars: { name: string; value: Value }[];
  current: string;
  depth = 0;

  constructor(readonly ctx: ExecContext, data: Value) {
    this.vars = [{ name: "$", value: data }];
    this.current = ctx.name;
  }

  at(n: Node): void {
    this.node = n;
  }

  errorf(msg: string): never {
    if (!this.node) throw new TemplateError(`template: ${this.current}: ${msg}`, "execute");
    const { line, col } = location(this.ctx.text, this.node.pos);
    const context = nodeString(this.node);
    throw new TemplateError(
      `template: ${this.ctx.name}:${line}:${col}: executing ${
        quote(this.current)
      } at <${context}>: ${msg}`,
      "execute",
    );
  }

  // Variables: a stack, marked on entry to a block and popped on exit.
  mark(): number {
    return this.vars.length;
  }
  pop(mark: number): void {
    this.vars.length = mark;
  }
  setVar(name: string, value: Value): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i].name === name) {
        this.vars[i].value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }
  varValue(name: string): Value {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i].name === name) return this.vars[i].value;
    }
    return this.errorf(`undefined variable: ${name}`);
  }

  walk(dot: Value, node: Node): void {
    this.at(node);
    switch (node.type) {
      case "action": {
        const v = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) {
          this.at(node);
          this.out.push(v === undefined ? "<no value>" : sprint([v]));
        }
        return;
      }
      case "break":
        throw BREAK;
      case "continue":
        throw CONTINUE;
      case "if":
      case "with":
        return this.walkIfOrWith(dot, node);
      case "list":
        for (const n of node.nodes) this.walk(dot, n);
        return;
      case "range":
        return this.walkRange(dot, node);
      case "template":
        return this.walkTemplate(dot, node);
      case "text":
        this.out.push(node.text);
        return;
    }
    this.errorf(`unknown node: ${nodeString(node)}`);
  }

  walkIfOrWith(dot: Value, node: BranchNode): void {
    const mark = this.mark();
    try {
      const val = this.evalPipeline(dot, node.pipe);
      if (isTrue(val)) this.walk(node.type === "with" ? val : dot, node.list);
      else if (node.elseList) this.walk(dot, node.elseList);
    } finally {
      this.pop(mark);
    }
  }

  walkRange(dot: Value, r: BranchNode): void {
    this.at(r);
    const outer = this.mark();
    try {
      const val = this.evalPipeline(dot, r.pipe);
      const mark = this.mark();
      const decl = r.pipe.decl;
      const one = (index: Value, elem: Value) => {
        const setVar = (n: number, v: Value) => {
          if (r.pipe.isAssign) this.setVar(decl[decl.length - n].ident[0], v);
          else this.vars[this.vars.length - n].value = v;
        };
        if (decl.length > 0) setVar(1, elem);
        if (decl.length > 1) setVar(2, index);
        try {
          this.walk(elem, r.list);
        } catch (e) {
          if (e !== CONTINUE) throw e;
        } finally {
          this.pop(mark);
        }
      };
      switch (kindOf(val)) {
        case "slice": {
          const a = val as Value[];
          if (a.length === 0) break;
          a.forEach((e, i) => one(i, e));
          return;
        }
        case "map": {
          const m = val as Record<string, Value>;
          const keys = sortedKeys(m);
          if (keys.length === 0) break;
          for (const k of keys) one(k, m[k]);
          return;
        }
        case "invalid":
          break;
        default:
          this.errorf(`range can't iterate over ${sprint([val])}`);
      }
      if (r.elseList) this.walk(dot, r.elseList);
    } catch (e) {
      if (e !== BREAK) throw e;
    } finally {
      this.pop(outer);
    }
  }

  walkTemplate(dot: Value, t: TemplateNode): void {
    this.at(t);
    const tree = this.ctx.defined.get(t.name);
    if (!tree) this.errorf(`template ${quote(t.name)} not defined`);
    if (this.depth >= MAX_DEPTH) this.errorf(`exceeded maximum template depth (${MAX_DEPTH})`);
    const value = t.pipe ? this.evalPipeline(dot, t.pipe) : undefined;
    const saved = { vars: this.vars, current: this.current };
    this.vars = [{ name: "$", value }];
    this.current = t.name;
    this.depth++;
    try {
      this.walk(value, tree!);
    } finally {
      this.depth--;
      this.vars = saved.vars;
      this.current = saved.current;
    }
  }

  evalPipeline(dot: Value, pipe: PipeNode): Value {
    this.at(pipe);
    let value: Arg = MISSING;
    for (const cmd of pipe.cmds) {
      value = this.evalCommand(dot, cmd, value);
      // A nil interface{} is no value at all once it leaves a command (Go's "lovely!").
      if (value === null) value = undefined;
    }
    const v = value as Value;
    for (const variable of pipe.decl) {
      if (pipe.isAssign) this.setVar(variable.ident[0], v);
      else this.vars.push({ name: variable.ident[0], value: v });
    }
    return v;
  }

  notAFunction(args: readonly Node[], final: Arg): void {
    if (args.length > 1 || final !== MISSING) {
      this.errorf(`can't give argument to non-function ${nodeString(args[0])}`);
    }
  }

  evalCommand(dot: Value, cmd: CommandNode, final: Arg): Value {
    const first = cmd.args[0];
    switch (first.type) {
      case "field":
        return this.evalFieldNode(dot, first, cmd.args, final);
      case "chain":
        return this.evalChainNode(dot, first, cmd.args, final);
      case "identifier":
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case "pipe":
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case "variable":
        return this.evalVariableNode(first, cmd.args, final);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.type) {
      case "bool":
        return first.value;
      case "dot":
        return dot;
      case "nil":
        return this.errorf("nil is not a command");
      case "number":
        return this.idealConstant(first);
      case "string":
        return first.text;
    }
    return this.errorf(`can't evaluate command ${quote(nodeString(first))}`);
  }

  idealConstant(n: NumberNode): Value {
    this.at(n);
    const hexInt = /^[+-]?0[xX]/.test(n.text) && !/[pP]/.test(n.text);
    if (n.isFloat && !hexInt && n.text[0] !== "'" && /[.eEpP]/.test(n.text)) {
      return float(n.float);
    }
    if (n.isInt) return n.int;
    return this.errorf(`${n.text} overflows int`);
  }

  evalFieldNode(dot: Value, field: FieldNode, args: readonly Node[], final: Arg): Value {
    this.at(field);
    return this.evalFieldChain(dot, field.ident, args, final);
  }

  evalChainNode(dot: Value, chain: ChainNode, args: readonly Node[], final: Arg): Value {
    this.at(chain);
    if (chain.node.type === "nil") {
      this.errorf(`indirection through explicit nil in ${nodeString(chain)}`);
    }
    const receiver = this.evalArg(dot, null, chain.node);
    return this.evalFieldChain(receiver, chain.field, args, final);
  }

  evalVariableNode(v: VariableNode, args: readonly Node[], final: Arg): Value {
    this.at(v);
    const value = this.varValue(v.ident[0]);
    if (v.ident.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(value, v.ident.slice(1), args, final);
  }

  evalFieldChain(
    receiver: Value,
    ident: readonly string[],
    args: readonly Node[],
    final: Arg,
  ): Value {
    for (let i = 0; i < ident.length - 1; i++) {
      receiver = this.evalField(ident[i], [], MISSING, receiver);
    }
    return this.evalField(ident[ident.length - 1], args, final, receiver);
  }

  evalField(name: string, args: readonly Node[], final: Arg, receiver: Value): Value {
    if (receiver === undefined) {
      if (this.ctx.missingKeyError) this.errorf(`nil data; no entry for key ${quote(name)}`);
      return undefined;
    }
    if (receiver === null) this.errorf(`nil pointer evaluating interface {}.${name}`);
    if (kindOf(receiver) === "map") {
      if (args.length > 1 || final !== MISSING) {
        this.errorf(`${name} is not a method but has arguments`);
      }
      const m = receiver as Record<string, Value>;
      if (Object.hasOwn(m, name)) return m[name];
      if (this.ctx.missingKeyError) this.errorf(`map has no entry for key ${quote(name)}`);
      return undefined;
    }
    return this.errorf(`can't evaluate field ${name} in type ${typeName(receiver)}`);
  }

  evalFunction(
    dot: Value,
    node: IdentifierNode,
    cmd: Node,
    args: readonly Node[] | undefined,
    final: Arg,
  ): Value {
    this.at(node);
    const name = node.name;
    const custom = Object.hasOwn(this.ctx.funcs, name) ? this.ctx.funcs[name] : undefined;
    const fn = custom ?? (Object.hasOwn(BUILTINS, name) ? BUILTINS[name] : undefined);
    if (!fn) this.errorf(`${quote(name)} is not a defined function`);
    return this.evalCall(dot, fn!, !custom, cmd, name, args ? args.slice(1) : [], final);
  }

  evalCall(
    dot: Value,
    fn: TemplateFunction,
    builtin: boolean,
    node: Node,
    name: string,
    args: readonly Node[],
    final: Arg,
  ): Value {
    const numIn = args.length + (final !== MISSING ? 1 : 0);
    let numFixed = args.length;
    if (fn.variadic) {
      numFixed = fn.params.length;
      if (numIn < numFixed) {
        this.errorf(
          `wrong number of args for ${name}: want at least ${numFixed} got ${args.length}`,
        );
      }
    } else if (numIn !== fn.params.length) {
      this.errorf(`wrong number of args for ${name}: want ${fn.params.length} got ${numIn}`);
    }
    if (builtin && (name === "and" || name === "or")) {
      let v: Value;
      for (const a of args) {
        v = this.evalArg(dot, "value", a);
        if (isTrue(v) === (name === "or")) return v;
      }
      if (final !== MISSING) v = this.validateType(final, "value");
      return v;
    }
    const argv: Value[] = [];
    let i = 0;
    for (; i < numFixed && i < args.length; i++) {
      argv.push(this.evalArg(dot, fn.params[i], args[i]));
    }
    if (fn.variadic) {
      for (; i < args.length; i++) argv.push(this.evalArg(dot, fn.variadic, args[i]));
    }
    if (final !== MISSING) {
      let t = fn.params[fn.params.length - 1];
      if (fn.variadic) t = numIn - 1 < numFixed ? fn.params[numIn - 1] : fn.variadic;
      argv.push(this.validateType(final, t));
    }
    try {
      return fn.call(...argv);
    } catch (e) {
      if (e instanceof TemplateError) throw e;
      this.at(node);
      return this.errorf(`error calling ${name}: ${(e as Error).message}`);
    }
  }

  /** Checks a computed value against a parameter type, as Go's validateType. */
  validateType(value: Value, typ: ParamType | null): Value {
    if (value === undefined) {
      if (typ === null || typ === "value") return undefined;
      if (typ === "any") return null;
      return this.errorf(`invalid value; expected ${GO_TYPE[typ]}`);
    }
    if (typ === null || typ === "value" || typ === "any") return value;
    if (kindOf(value) !== typ) {
      const got = value === null ? "interface {}" : typeName(value);
      this.errorf(`wrong type for value; expected ${GO_TYPE[typ]}; got ${got}`);
    }
    return value;
  }

  evalArg(dot: Value, typ: ParamType | null, n: Node): Value {
    this.at(n);
    switch (n.type) {
      case "dot":
        return this.validateType(dot, typ);
      case "nil":
        if (typ === "value" || typ === null) return undefined;
        if (typ === "any") return null;
        return this.errorf(`cannot assign nil to ${GO_TYPE[typ]}`);
      case "field":
        return this.validateType(this.evalFieldNode(dot, n, [n], MISSING), typ);
      case "variable":
        return this.validateType(this.evalVariableNode(n, [], MISSING), typ);
      case "pipe":
        return this.validateType(this.evalPipeline(dot, n), typ);
      case "identifier":
        return this.validateType(this.evalFunction(dot, n, n, undefined, MISSING), typ);
      case "chain":
        return this.validateType(this.evalChainNode(dot, n, [], MISSING), typ);
    }
    switch (typ) {
      case "bool":
        if (n.type === "bool") return n.value;
        return this.errorf(`expected bool; found ${nodeString(n)}`);
      case "float":
        if (n.type === "number" && n.isFloat) return float(n.float);
        return this.errorf(`expected float; found ${nodeString(n)}`);
      case "int":
        if (n.type === "number" && n.isInt) return n.int;
        return this.errorf(`expected integer; found ${nodeString(n)}`);
      case "string":
        if (n.type === "string") return n.text;
        return this.errorf(`expected string; found ${nodeString(n)}`);
    }
    return this.evalEmptyInterface(n);
  }

  evalEmptyInterface(n: Node): Value {
    this.at(n);
    switch (n.type) {
      case "bool":
        return n.value;
      case "number":
        return this.idealConstant(n);
      case "string":
        return n.text;
    }
    return this.errorf(`can't handle assignment of ${nodeString(n)} to empty interface argument`);
  }
}

/** Executes a parsed template on data and returns the text it prints. */
export function execute(ctx: ExecContext, data: unknown): string {
  const s = new State(ctx, (data ?? undefined) as Value);
  try {
    s.walk(s.vars[0].value, ctx.root);
  } catch (e) {
    if (e instanceof TemplateError) e.output = s.out.join("");
    throw e;
  }
  return s.out.join("");
}
