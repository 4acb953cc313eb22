/**
 * The parser of Go's text/template (the parse package): the same node types, the same
 * rules (variables must be declared, functions must exist, `else if`, `break` only in a
 * range) and the same error messages, so `--format` mistakes read as Docker's do.
 * `define`, `template` and `block` are not supported: one-line formats never use them.
 */
import { lex, tokenString, type Token } from "./lexer.js";

export type Node =
  | { type: "text"; pos: number; text: string }
  | { type: "action"; pos: number; pipe: PipeNode }
  | { type: "if" | "with"; pos: number; pipe: PipeNode; list: Node[]; elseList?: Node[] }
  | { type: "range"; pos: number; pipe: PipeNode; list: Node[]; elseList?: Node[] }
  | { type: "break" | "continue"; pos: number };

export interface PipeNode {
  type: "pipe";
  pos: number;
  decl: VariableNode[];
  isAssign: boolean;
  cmds: CommandNode[];
}

export interface CommandNode {
  type: "command";
  pos: number;
  args: Arg[];
}

export interface FieldNode {
  type: "field";
  pos: number;
  ident: string[];
}
export interface VariableNode {
  type: "variable";
  pos: number;
  ident: string[];
}
export interface ChainNode {
  type: "chain";
  pos: number;
  node: Arg;
  field: string[];
}
export type Arg =
  | FieldNode
  | VariableNode
  | ChainNode
  | PipeNode
  | { type: "identifier"; pos: number; name: string }
  | { type: "dot"; pos: number }
  | { type: "nil"; pos: number }
  | { type: "bool"; pos: number; value: boolean }
  | { type: "number"; pos: number; text: string; value: number }
  | { type: "string"; pos: number; quoted: string; value: string };

/** A template error: "template: :1: unexpected EOF". */
export class TemplateError extends Error {
  /** What execution had written before it failed (Go's writer keeps it). */
  partial = "";
}

type EndNode = { type: "end" | "else"; pos: number };

/** Parses `text` into a node list; `isFunction` says which identifiers are functions. */
export function parse(text: string, isFunction: (name: string) => boolean, name = ""): Node[] {
  return new Parser(text, isFunction, name).parse();
}

class Parser {
  private readonly tokens: Token[];
  private i = 0;
  private vars: string[] = ["$"];
  private rangeDepth = 0;
  private actionLine = 0;

  constructor(
    text: string,
    private readonly isFunction: (name: string) => boolean,
    private readonly name: string,
  ) {
    this.tokens = lex(text);
  }

  parse(): Node[] {
    const root: Node[] = [];
    while (this.peek().kind !== "eof") {
      const n = this.textOrAction();
      if (isEnd(n)) this.errorf(`unexpected ${endString(n)}`);
      else if (n.type !== "comment") root.push(n as Node);
    }
    return root;
  }

  // Tokens --------------------------------------------------------------------------------

  private current: Token | undefined;

  private next(): Token {
    const t = this.tokens[this.i] ?? this.tokens[this.tokens.length - 1]!;
    if (this.i < this.tokens.length) this.i++;
    this.current = t;
    return t;
  }
  private backup(n = 1): void {
    this.i -= n;
  }
  private peek(): Token {
    return this.tokens[this.i] ?? this.tokens[this.tokens.length - 1]!;
  }
  private nextNonSpace(): Token {
    let t: Token;
    do t = this.next();
    while (t.kind === "space");
    return t;
  }
  private peekNonSpace(): Token {
    const t = this.nextNonSpace();
    this.backup();
    return t;
  }

  private errorf(message: string): never {
    const line = this.current?.line ?? 1;
    throw new TemplateError(`template: ${this.name}:${line}: ${message}`);
  }
  private unexpected(t: Token, context: string): never {
    if (t.kind === "error") {
      const extra = this.actionLine !== 0 && this.actionLine !== t.line ? ` in action started at ${this.name}:${this.actionLine}` : "";
      this.errorf(`${t.value}${extra}`);
    }
    this.errorf(`unexpected ${tokenString(t)} in ${context}`);
  }
  private expect(kind: Token["kind"], context: string): Token {
    const t = this.nextNonSpace();
    if (t.kind !== kind) this.unexpected(t, context);
    return t;
  }

  // Structure -----------------------------------------------------------------------------

  private textOrAction(): Node | EndNode | { type: "comment" } {
    const t = this.nextNonSpace();
    switch (t.kind) {
      case "text":
        return { type: "text", pos: t.pos, text: t.value };
      case "leftDelim":
        this.actionLine = t.line;
        try {
          return this.action();
        } finally {
          this.actionLine = 0;
        }
      case "comment":
        return { type: "comment" };
      default:
        this.unexpected(t, "input");
    }
  }

  private action(): Node | EndNode {
    const t = this.nextNonSpace();
    if (t.kind === "keyword") {
      switch (t.value) {
        case "if":
          return this.control("if", t.pos);
        case "with":
          return this.control("with", t.pos);
        case "range":
          return this.control("range", t.pos);
        case "end":
          this.expect("rightDelim", "end");
          return { type: "end", pos: t.pos };
        case "else": {
          const p = this.peekNonSpace();
          // "else if" / "else with": the keyword is parsed by the enclosing control.
          if (p.kind === "keyword" && (p.value === "if" || p.value === "with")) return { type: "else", pos: t.pos };
          this.expect("rightDelim", "else");
          return { type: "else", pos: t.pos };
        }
        case "break":
        case "continue":
          if (this.rangeDepth === 0) this.errorf(`{{${t.value}}} outside {{range}}`);
          this.expect("rightDelim", `{{${t.value}}}`);
          return { type: t.value, pos: t.pos };
        default:
          this.errorf(`{{${t.value}}} is not supported`);
      }
    }
    this.backup();
    return { type: "action", pos: this.peek().pos, pipe: this.pipeline("command", "rightDelim") };
  }

  private control(kind: "if" | "with" | "range", pos: number): Node {
    const mark = this.vars.length;
    try {
      const pipe = this.pipeline(kind, "rightDelim");
      if (kind === "range") this.rangeDepth++;
      let list: Node[];
      let end: EndNode;
      try {
        [list, end] = this.itemList();
      } finally {
        if (kind === "range") this.rangeDepth--;
      }
      let elseList: Node[] | undefined;
      if (end.type === "else") {
        const p = this.peekNonSpace();
        if (kind !== "range" && p.kind === "keyword" && p.value === kind) {
          // "else if" chains: the rest is one nested control, which consumes the {{end}}.
          const k = this.nextNonSpace();
          elseList = [this.control(kind, k.pos)];
        } else {
          let next: EndNode;
          [elseList, next] = this.itemList();
          if (next.type !== "end") this.errorf(`expected end; found ${endString(next)}`);
        }
      }
      return { type: kind, pos, pipe, list, ...(elseList ? { elseList } : {}) };
    } finally {
      this.vars.length = mark;
    }
  }

  private itemList(): [Node[], EndNode] {
    const list: Node[] = [];
    while (this.peekNonSpace().kind !== "eof") {
      const n = this.textOrAction();
      if (isEnd(n)) return [list, n];
      else if (n.type !== "comment") list.push(n as Node);
    }
    this.errorf("unexpected EOF");
  }

  private pipeline(context: string, end: "rightDelim" | "rightParen"): PipeNode {
    const pipe: PipeNode = { type: "pipe", pos: this.peekNonSpace().pos, decl: [], isAssign: false, cmds: [] };
    // Variable declarations: "$x :=", "$x =", "$i, $e :=" (range only).
    for (;;) {
      const v = this.peekNonSpace();
      if (v.kind !== "variable") break;
      const save = this.i;
      this.nextNonSpace();
      const after = this.peekNonSpace();
      if (after.kind === "assign" || after.kind === "declare") {
        pipe.isAssign = after.kind === "assign";
        this.nextNonSpace();
        pipe.decl.push({ type: "variable", pos: v.pos, ident: [v.value] });
        this.vars.push(v.value);
        break;
      }
      if (after.kind === "char" && after.value === ",") {
        this.nextNonSpace();
        pipe.decl.push({ type: "variable", pos: v.pos, ident: [v.value] });
        this.vars.push(v.value);
        if (context === "range" && pipe.decl.length < 2) {
          const k = this.peekNonSpace().kind;
          if (k === "variable" || k === "rightDelim" || k === "rightParen") continue;
          this.errorf("range can only initialize variables");
        }
        this.errorf(`too many declarations in ${context}`);
      }
      this.i = save;
      break;
    }
    for (;;) {
      const t = this.nextNonSpace();
      if (t.kind === end) {
        this.checkPipeline(pipe, context);
        return pipe;
      }
      switch (t.kind) {
        case "bool":
        case "charConstant":
        case "dot":
        case "field":
        case "identifier":
        case "number":
        case "nil":
        case "rawString":
        case "string":
        case "variable":
        case "leftParen":
          this.backup();
          pipe.cmds.push(this.command());
          break;
        default:
          this.unexpected(t, context);
      }
    }
  }

  private checkPipeline(pipe: PipeNode, context: string): void {
    if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`);
    pipe.cmds.slice(1).forEach((c, i) => {
      const t = c.args[0]!.type;
      if (t === "bool" || t === "dot" || t === "nil" || t === "number" || t === "string") {
        this.errorf(`non executable command in pipeline stage ${i + 2}`);
      }
    });
  }

  private command(): CommandNode {
    const cmd: CommandNode = { type: "command", pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand) cmd.args.push(operand);
      const t = this.next();
      if (t.kind === "space") continue;
      if (t.kind === "rightDelim" || t.kind === "rightParen") this.backup();
      else if (t.kind !== "pipe") this.unexpected(t, "operand");
      break;
    }
    if (cmd.args.length === 0) this.errorf("empty command");
    return cmd;
  }

  private operand(): Arg | undefined {
    const node = this.term();
    if (!node) return undefined;
    if (this.peek().kind !== "field") return node;
    const fields: string[] = [];
    while (this.peek().kind === "field") fields.push(this.next().value.slice(1));
    switch (node.type) {
      case "field":
        return { type: "field", pos: node.pos, ident: [...node.ident, ...fields] };
      case "variable":
        return { type: "variable", pos: node.pos, ident: [...node.ident, ...fields] };
      case "bool":
      case "string":
      case "number":
      case "nil":
      case "dot":
        this.errorf(`unexpected . after term ${JSON.stringify(argString(node))}`);
      default:
        return { type: "chain", pos: node.pos, node, field: fields };
    }
  }

  private term(): Arg | undefined {
    const t = this.nextNonSpace();
    switch (t.kind) {
      case "identifier":
        if (!this.isFunction(t.value)) this.errorf(`function ${JSON.stringify(t.value)} not defined`);
        return { type: "identifier", pos: t.pos, name: t.value };
      case "dot":
        return { type: "dot", pos: t.pos };
      case "nil":
        return { type: "nil", pos: t.pos };
      case "variable": {
        const ident = [t.value];
        if (!this.vars.includes(t.value)) this.errorf(`undefined variable ${JSON.stringify(t.value)}`);
        return { type: "variable", pos: t.pos, ident };
      }
      case "field":
        return { type: "field", pos: t.pos, ident: [t.value.slice(1)] };
      case "bool":
        return { type: "bool", pos: t.pos, value: t.value === "true" };
      case "number":
      case "charConstant":
        return this.number(t);
      case "leftParen":
        return this.pipeline("parenthesized pipeline", "rightParen");
      case "string":
      case "rawString":
        return { type: "string", pos: t.pos, quoted: t.value, value: unquote(t.value, (m) => this.errorf(m)) };
      default:
        this.backup();
        return undefined;
    }
  }

  private number(t: Token): Arg {
    if (t.kind === "charConstant") {
      const s = unquote(`"${t.value.slice(1, -1).replace(/"/g, '\\"')}"`, (m) => this.errorf(m));
      return { type: "number", pos: t.pos, text: t.value, value: s.codePointAt(0) ?? 0 };
    }
    const clean = t.value.replace(/_/g, "");
    const sign = clean.startsWith("-") ? -1 : 1;
    const body = clean.replace(/^[+-]/, "");
    let value: number;
    if (/^0[xX]/.test(body)) value = parseInt(body.slice(2), 16);
    else if (/^0[bB]/.test(body)) value = parseInt(body.slice(2), 2);
    else if (/^0[oO]/.test(body)) value = parseInt(body.slice(2), 8);
    else value = Number(body);
    if (!Number.isFinite(value)) this.errorf(`illegal number syntax: ${JSON.stringify(t.value)}`);
    return { type: "number", pos: t.pos, text: t.value, value: sign * value };
  }
}

/** Go's strconv.Unquote for "..." and `...`. */
function unquote(quoted: string, fail: (m: string) => never): string {
  if (quoted.startsWith("`")) return quoted.slice(1, -1);
  const body = quoted.slice(1, -1);
  return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)/g, (_, e: string) => {
    switch (e[0]) {
      case "x":
      case "u":
      case "U":
        return String.fromCodePoint(parseInt(e.slice(1), 16));
      case "a":
        return "\x07";
      case "b":
        return "\b";
      case "f":
        return "\f";
      case "n":
        return "\n";
      case "r":
        return "\r";
      case "t":
        return "\t";
      case "v":
        return "\v";
      case "\\":
        return "\\";
      case '"':
        return '"';
      case "'":
        return "'";
      default:
        if (/^[0-7]{3}$/.test(e)) return String.fromCharCode(parseInt(e, 8));
        return fail("invalid syntax");
    }
  });
}

function isEnd(n: { type: string }): n is EndNode {
  return n.type === "end" || n.type === "else";
}

function endString(n: EndNode): string {
  return n.type === "end" ? "{{end}}" : "{{else}}";
}

/** Go's Node.String(), for error contexts ("at <.State.Nope>"). */
export function argString(a: Arg | CommandNode): string {
  switch (a.type) {
    case "field":
      return "." + a.ident.join(".");
    case "variable":
      return a.ident.join(".");
    case "chain":
      return (a.node.type === "pipe" ? `(${argString(a.node)})` : argString(a.node)) + "." + a.field.join(".");
    case "pipe":
      return (
        (a.decl.length > 0 ? a.decl.map((d) => d.ident.join(".")).join(", ") + (a.isAssign ? " = " : " := ") : "") +
        a.cmds.map(argString).join(" | ")
      );
    case "command":
      return a.args.map((x) => (x.type === "pipe" ? `(${argString(x)})` : argString(x))).join(" ");
    case "identifier":
      return a.name;
    case "dot":
      return ".";
    case "nil":
      return "nil";
    case "bool":
      return String(a.value);
    case "number":
      return a.text;
    case "string":
      return a.quoted;
  }
}
