/**
 * The executor of Go's text/template (exec.go): walks the parse tree over a data value
 * with Go's rules for fields, maps, methods, variables, pipelines, if/with/range and
 * break/continue, and Go's error messages with their location
 * ("template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\"").
 */
import { FunctionError, type FuncMap } from "./functions.js";
import { argString, TemplateError, type Arg, type ChainNode, type CommandNode, type FieldNode, type Node, type PipeNode, type VariableNode } from "./parser.js";
import { formatValue, goTypeName, isObject, isTrue, sortedKeys, structType } from "./values.js";

/** Go's invalid reflect.Value: a missing map entry; printed "<no value>". */
export const NO_VALUE = Symbol("no value");
/** No value piped in from an earlier command. */
const NO_FINAL = Symbol("no final");

export interface ExecOptions {
  /** Go's Option("missingkey=error"): a missing map key is an error instead of "<no value>". */
  missingKeyError?: boolean;
}

class BreakSignal {}
class ContinueSignal {}

/** Runs a parsed template over `data` and returns its output. */
export function execute(text: string, name: string, root: Node[], funcs: FuncMap, data: unknown, opts: ExecOptions = {}): string {
  return new State(text, name, funcs, opts, data).run(root);
}

class State {
  private out = "";
  private node: { pos: number; str: string } | undefined;
  private vars: { name: string; value: unknown }[];

  constructor(
    private readonly text: string,
    private readonly name: string,
    private readonly funcs: FuncMap,
    private readonly opts: ExecOptions,
    data: unknown,
  ) {
    this.vars = [{ name: "$", value: data }];
  }

  run(root: Node[]): string {
    try {
      this.walkList(this.vars[0]!.value, root);
    } catch (e) {
      if (e instanceof TemplateError) e.partial = this.out;
      throw e;
    }
    return this.out;
  }

  // Errors ---------------------------------------------------------------------------------

  private at(node: Arg | CommandNode | Node): void {
    this.node = { pos: node.pos, str: nodeString(node) };
  }

  private errorf(message: string): never {
    if (!this.node) throw new TemplateError(`template: ${this.name}: ${message}`);
    const before = this.text.slice(0, this.node.pos);
    const nl = before.lastIndexOf("\n");
    const col = nl === -1 ? this.node.pos : this.node.pos - (nl + 1);
    const line = 1 + (before.match(/\n/g)?.length ?? 0);
    const context = this.node.str.length > 20 ? `${this.node.str.slice(0, 20)}...` : this.node.str;
    throw new TemplateError(`template: ${this.name}:${line}:${col}: executing ${JSON.stringify(this.name)} at <${context}>: ${message}`);
  }

  // Walking ---------------------------------------------------------------------------------

  private walkList(dot: unknown, list: Node[]): void {
    for (const n of list) this.walk(dot, n);
  }

  private walk(dot: unknown, node: Node): void {
    switch (node.type) {
      case "text":
        this.out += node.text;
        return;
      case "action": {
        const v = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.print(node, v);
        return;
      }
      case "if":
      case "with":
        return this.walkIfOrWith(dot, node);
      case "range":
        return this.walkRange(dot, node);
      case "break":
        throw new BreakSignal();
      case "continue":
        throw new ContinueSignal();
    }
  }

  private print(node: Node, v: unknown): void {
    this.at(node);
    if (v === NO_VALUE) this.out += "<no value>";
    else this.out += formatValue(v);
  }

  private walkIfOrWith(dot: unknown, node: Extract<Node, { type: "if" | "with" }>): void {
    const mark = this.vars.length;
    try {
      const v = this.evalPipeline(dot, node.pipe);
      if (v !== NO_VALUE && isTrue(v)) this.walkList(node.type === "with" ? v : dot, node.list);
      else if (node.elseList) this.walkList(dot, node.elseList);
    } finally {
      this.vars.length = mark;
    }
  }

  private walkRange(dot: unknown, node: Extract<Node, { type: "range" }>): void {
    const outer = this.vars.length;
    try {
      const val = this.evalPipeline(dot, node.pipe);
      const mark = this.vars.length;
      const decl = node.pipe.decl;
      const one = (index: unknown, elem: unknown): boolean => {
        if (decl.length > 0) {
          if (node.pipe.isAssign) this.setVar(decl[0]!.ident[0]!, decl.length > 1 ? index : elem);
          else this.vars[this.vars.length - 1]!.value = elem;
        }
        if (decl.length > 1) {
          if (node.pipe.isAssign) this.setVar(decl[1]!.ident[0]!, elem);
          else this.vars[this.vars.length - 2]!.value = index;
        }
        try {
          this.walkList(elem, node.list);
        } catch (e) {
          if (e instanceof BreakSignal) return false;
          if (!(e instanceof ContinueSignal)) throw e;
        } finally {
          this.vars.length = mark;
        }
        return true;
      };
      let ran = false;
      if (Array.isArray(val)) {
        for (let i = 0; i < val.length; i++) {
          ran = true;
          if (!one(i, val[i])) break;
        }
      } else if (isObject(val) && structType(val) === undefined) {
        for (const k of sortedKeys(val)) {
          ran = true;
          if (!one(k, val[k])) break;
        }
      } else if (typeof val === "number" && Number.isInteger(val)) {
        if (decl.length > 1) this.errorf(`can't use ${val} to iterate over more than one variable`);
        for (let i = 0; i < val; i++) {
          ran = true;
          if (!one(i, i)) break;
        }
      } else if (val !== NO_VALUE && val !== null && val !== undefined) {
        this.at(node);
        this.errorf(`range can't iterate over ${formatValue(val)}`);
      }
      if (!ran && node.elseList) this.walkList(dot, node.elseList);
    } finally {
      this.vars.length = outer;
    }
  }

  // Evaluation ------------------------------------------------------------------------------

  private evalPipeline(dot: unknown, pipe: PipeNode): unknown {
    this.at(pipe);
    let value: unknown = NO_FINAL;
    for (const cmd of pipe.cmds) value = this.evalCommand(dot, cmd, value);
    for (const v of pipe.decl) {
      if (pipe.isAssign) this.setVar(v.ident[0]!, value);
      else this.vars.push({ name: v.ident[0]!, value });
    }
    return value;
  }

  private evalCommand(dot: unknown, cmd: CommandNode, final: unknown): unknown {
    const first = cmd.args[0]!;
    switch (first.type) {
      case "field":
        return this.evalFieldNode(dot, first, cmd.args, final);
      case "chain":
        return this.evalChain(dot, first, cmd.args, final);
      case "identifier":
        return this.evalFunction(dot, first.name, first, cmd, cmd.args, final);
      case "pipe":
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case "variable":
        return this.evalVariable(dot, first, cmd.args, final);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.type) {
      case "bool":
        return first.value;
      case "dot":
        return dot;
      case "nil":
        this.errorf("nil is not a command");
      case "number":
        return first.value;
      case "string":
        return first.value;
    }
  }

  private notAFunction(args: Arg[], final: unknown): void {
    if (args.length > 1 || final !== NO_FINAL) this.errorf(`can't give argument to non-function ${argString(args[0]!)}`);
  }

  private evalArg(dot: unknown, node: Arg): unknown {
    this.at(node);
    switch (node.type) {
      case "field":
        return this.evalFieldNode(dot, node, [node], NO_FINAL);
      case "variable":
        return this.evalVariable(dot, node, [], NO_FINAL);
      case "pipe":
        return this.evalPipeline(dot, node);
      case "identifier":
        return this.evalFunction(dot, node.name, node, node, [node], NO_FINAL);
      case "chain":
        return this.evalChain(dot, node, [], NO_FINAL);
      case "dot":
        return dot;
      case "nil":
        return null;
      case "bool":
      case "number":
      case "string":
        return node.value;
    }
  }

  private evalFieldNode(dot: unknown, field: FieldNode, args: Arg[], final: unknown): unknown {
    this.at(field);
    return this.evalFieldChain(dot, dot, field.ident, args, final);
  }

  private evalChain(dot: unknown, chain: ChainNode, args: Arg[], final: unknown): unknown {
    if (chain.node.type === "nil") this.errorf(`indirection through explicit nil in ${argString(chain)}`);
    const receiver = this.evalArg(dot, chain.node);
    this.at(chain);
    return this.evalFieldChain(dot, receiver, chain.field, args, final);
  }

  private evalVariable(dot: unknown, v: VariableNode, args: Arg[], final: unknown): unknown {
    this.at(v);
    const value = this.varValue(v.ident[0]!);
    if (v.ident.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, v.ident.slice(1), args, final);
  }

  private evalFieldChain(dot: unknown, receiver: unknown, ident: string[], args: Arg[], final: unknown): unknown {
    let r = receiver;
    for (let i = 0; i < ident.length - 1; i++) r = this.evalField(dot, ident[i]!, [], NO_FINAL, r);
    return this.evalField(dot, ident[ident.length - 1]!, args, final, r);
  }

  private evalField(dot: unknown, name: string, args: Arg[], final: unknown, receiver: unknown): unknown {
    if (receiver === NO_VALUE) {
      if (this.opts.missingKeyError) this.errorf(`nil data; no entry for key ${JSON.stringify(name)}`);
      return NO_VALUE;
    }
    if (receiver === null || receiver === undefined) this.errorf(`nil pointer evaluating interface {}.${name}`);
    const hasArgs = args.length > 1 || final !== NO_FINAL;
    if (isObject(receiver)) {
      const own = Object.hasOwn(receiver, name);
      const value = own ? receiver[name] : undefined;
      if (typeof value === "function") return this.callMethod(dot, name, value as (...a: unknown[]) => unknown, args, final);
      if (structType(receiver) !== undefined) {
        if (!own) this.errorf(`can't evaluate field ${name} in type ${structType(receiver)}`);
        if (hasArgs) this.errorf(`${name} has arguments but cannot be invoked as function`);
        return value;
      }
      if (hasArgs) this.errorf(`${name} is not a method but has arguments`);
      if (own) return value;
      if (this.opts.missingKeyError) this.errorf(`map has no entry for key ${JSON.stringify(name)}`);
      return NO_VALUE;
    }
    this.errorf(`can't evaluate field ${name} in type ${goTypeName(receiver)}`);
  }

  private callMethod(dot: unknown, name: string, fn: (...a: unknown[]) => unknown, args: Arg[], final: unknown): unknown {
    const values = args.slice(1).map((a) => this.evalArg(dot, a));
    if (final !== NO_FINAL) values.push(final);
    try {
      return fn(...values);
    } catch (e) {
      this.errorf(`error calling ${name}: ${(e as Error).message}`);
    }
  }

  private evalFunction(dot: unknown, name: string, node: Arg, cmd: Arg | CommandNode, args: Arg[], final: unknown): unknown {
    this.at(node);
    const fn = this.funcs[name];
    if (!fn) this.errorf(`${JSON.stringify(name)} is not a defined function`);
    const rest = args.slice(1);
    const numIn = rest.length + (final !== NO_FINAL ? 1 : 0);
    if (fn.variadic) {
      if (numIn < fn.arity) this.errorf(`wrong number of args for ${name}: want at least ${fn.arity} got ${rest.length}`);
    } else if (numIn !== fn.arity) {
      this.errorf(`wrong number of args for ${name}: want ${fn.arity} got ${numIn}`);
    }
    if (name === "and" || name === "or") {
      // Short-circuit: the first argument that decides is the result, unevaluated rest.
      let v: unknown;
      for (const a of rest) {
        v = this.evalArg(dot, a);
        if (isTrue(v) === (name === "or")) return v;
      }
      return final !== NO_FINAL ? final : v;
    }
    const values = rest.map((a) => this.evalArg(dot, a));
    if (final !== NO_FINAL) values.push(final);
    try {
      return fn.fn(...values.map((v) => (v === NO_VALUE ? null : v)));
    } catch (e) {
      if (!(e instanceof FunctionError)) throw e;
      this.at(cmd);
      this.errorf(`error calling ${name}: ${e.message}`);
    }
  }

  // Variables -------------------------------------------------------------------------------

  private varValue(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    this.errorf(`undefined variable: ${name}`);
  }

  private setVar(name: string, value: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }
}

/** Go's String() of any node, for error contexts. */
function nodeString(node: Arg | CommandNode | Node): string {
  switch (node.type) {
    case "text":
    case "if":
    case "with":
    case "range":
    case "break":
    case "continue":
      return node.type;
    case "action":
      return `{{${argString(node.pipe)}}}`;
    default:
      return argString(node);
  }
}
