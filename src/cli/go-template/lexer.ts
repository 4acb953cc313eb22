/**
 * The lexer of Go's text/template, with its token kinds, trim markers (`{{- `, ` -}}`),
 * comments and error messages. Positions are offsets into the template text, as Go's are
 * (Go counts bytes; templates are almost always ASCII, where the two agree).
 */

export type TokenKind =
  | "error"
  | "eof"
  | "text"
  | "leftDelim"
  | "rightDelim"
  | "comment"
  | "space"
  | "field" // .Name
  | "variable" // $ or $name
  | "identifier" // a function name
  | "string" // "quoted", with its quotes
  | "rawString" // `raw`, with its quotes
  | "charConstant" // 'c', with its quotes
  | "number"
  | "bool"
  | "nil"
  | "dot"
  | "pipe"
  | "leftParen"
  | "rightParen"
  | "declare" // :=
  | "assign" // =
  | "char" // any other printable ASCII character (",")
  | "keyword";

export interface Token {
  kind: TokenKind;
  /** The token's text; for "error", the message. */
  value: string;
  pos: number;
  line: number;
}

export const KEYWORDS = new Set(["block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"]);

/** Go's item.String(), used in parse errors ("unexpected \"}\" in operand"). */
export function tokenString(t: Token): string {
  if (t.kind === "eof") return "EOF";
  if (t.kind === "error") return t.value;
  if (t.kind === "keyword") return `<${t.value}>`;
  if (t.value.length > 10) return `${goQuote(t.value.slice(0, 10))}...`;
  return goQuote(t.value);
}

/** Go's %q of a string: JSON escaping is the same for the text templates contain. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

const LEFT = "{{";
const RIGHT = "}}";
const TRIM = "-";
const isSpace = (c: string | undefined) => c === " " || c === "\t" || c === "\r" || c === "\n";
const isAlnum = (c: string | undefined) => c !== undefined && /[\p{L}\p{Nd}_]/u.test(c);

/** Splits a template into tokens; an error ends the stream with one "error" token. */
export function lex(input: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0; // next character to read
  let start = 0; // start of the current token
  let line = 1;
  let startLine = 1;
  let parenDepth = 0;
  let insideAction = false;
  let trimLeadingText = false;

  const emit = (kind: TokenKind, value = input.slice(start, pos)) => {
    tokens.push({ kind, value, pos: start, line: startLine });
    start = pos;
    startLine = line;
  };
  const advance = (n: number) => {
    for (let i = 0; i < n; i++) if (input[pos + i] === "\n") line++;
    pos += n;
  };
  const ignore = () => {
    start = pos;
    startLine = line;
  };
  const fail = (message: string): Token[] => {
    tokens.push({ kind: "error", value: message, pos: start, line: startLine });
    return tokens;
  };
  /** At "-}}" preceded by a space: a right delimiter that trims what follows. */
  const atRightDelim = (): { delim: boolean; trim: boolean } => {
    if (input.startsWith(RIGHT, pos)) return { delim: true, trim: false };
    if (isSpace(input[pos]) && input.startsWith(TRIM + RIGHT, pos + 1)) return { delim: true, trim: true };
    return { delim: false, trim: false };
  };

  for (;;) {
    if (!insideAction) {
      // Text up to the next left delimiter.
      const next = input.indexOf(LEFT, pos);
      const end = next === -1 ? input.length : next;
      if (trimLeadingText) {
        while (pos < end && isSpace(input[pos])) advance(1);
        ignore();
        trimLeadingText = false;
      }
      let textEnd = end;
      const trimsBefore = next !== -1 && input[next + 2] === TRIM && isSpace(input[next + 3]);
      if (trimsBefore) while (textEnd > pos && isSpace(input[textEnd - 1])) textEnd--;
      if (textEnd > pos) {
        advance(textEnd - pos);
        emit("text");
      }
      advance(end - pos);
      ignore();
      if (next === -1) {
        emit("eof", "");
        return tokens;
      }
      // The left delimiter, with its trim marker.
      const trimLen = trimsBefore ? 2 : 0;
      advance(LEFT.length);
      const afterMarker = pos + trimLen;
      if (input.startsWith("/*", afterMarker)) {
        // A comment: it must be the whole action.
        advance(trimLen);
        ignore();
        const close = input.indexOf("*/", pos + 2);
        if (close === -1) return fail("unclosed comment");
        advance(close + 2 - pos);
        const delim = atRightDelim();
        if (!delim.delim) return fail("comment ends before closing delimiter");
        emit("comment");
        advance(delim.trim ? 1 + TRIM.length + RIGHT.length : RIGHT.length);
        ignore();
        trimLeadingText = delim.trim;
        continue;
      }
      tokens.push({ kind: "leftDelim", value: LEFT, pos: pos - LEFT.length, line });
      advance(trimLen);
      ignore();
      insideAction = true;
      parenDepth = 0;
      continue;
    }

    // Inside an action.
    const delim = atRightDelim();
    if (delim.delim) {
      if (delim.trim) {
        advance(1 + TRIM.length);
        ignore();
      }
      if (parenDepth > 0) return fail("unclosed left paren");
      advance(RIGHT.length);
      emit("rightDelim");
      insideAction = false;
      trimLeadingText = delim.trim;
      continue;
    }
    const c = input[pos];
    if (c === undefined) return fail("unclosed action");
    if (isSpace(c)) {
      while (isSpace(input[pos]) && !atRightDelim().trim) advance(1);
      emit("space");
    } else if (c === "=") {
      advance(1);
      emit("assign");
    } else if (c === ":") {
      if (input[pos + 1] !== "=") return fail("expected :=");
      advance(2);
      emit("declare");
    } else if (c === "|") {
      advance(1);
      emit("pipe");
    } else if (c === '"') {
      advance(1);
      for (;;) {
        const d = input[pos];
        if (d === "\\") {
          if (input[pos + 1] === undefined || input[pos + 1] === "\n") return fail("unterminated quoted string");
          advance(2);
        } else if (d === undefined || d === "\n") {
          return fail("unterminated quoted string");
        } else {
          advance(1);
          if (d === '"') break;
        }
      }
      emit("string");
    } else if (c === "`") {
      const close = input.indexOf("`", pos + 1);
      if (close === -1) return fail("unterminated raw quoted string");
      advance(close + 1 - pos);
      emit("rawString");
    } else if (c === "'") {
      advance(1);
      for (;;) {
        const d = input[pos];
        if (d === "\\") advance(2);
        else if (d === undefined || d === "\n") return fail("unterminated character constant");
        else {
          advance(1);
          if (d === "'") break;
        }
      }
      emit("charConstant");
    } else if (c === "$") {
      advance(1);
      while (isAlnum(input[pos])) advance(1);
      if (!atTerminator()) return fail(`bad character ${goRune(input[pos]!)}`);
      emit("variable");
    } else if (c === "." && !/[0-9]/.test(input[pos + 1] ?? "")) {
      advance(1);
      if (!isAlnum(input[pos])) {
        emit("dot");
        continue;
      }
      while (isAlnum(input[pos])) advance(1);
      if (!atTerminator()) return fail(`bad character ${goRune(input[pos]!)}`);
      emit("field");
    } else if (/[0-9+\-.]/.test(c)) {
      const m = /^[+-]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(\d[\d_]*)?\.?\d*([eE][+-]?\d+)?)/.exec(input.slice(pos));
      const text = m?.[0] ?? "";
      if (text === "" || text === "+" || text === "-" || isAlnum(input[pos + text.length])) {
        return fail(`bad number syntax: ${goQuote(input.slice(pos, pos + Math.max(text.length, 1) + 1))}`);
      }
      advance(text.length);
      emit("number");
    } else if (isAlnum(c)) {
      while (isAlnum(input[pos])) advance(1);
      if (!atTerminator()) return fail(`bad character ${goRune(input[pos]!)}`);
      const word = input.slice(start, pos);
      if (KEYWORDS.has(word)) emit("keyword");
      else if (word === "true" || word === "false") emit("bool");
      else if (word === "nil") emit("nil");
      else emit("identifier");
    } else if (c === "(") {
      advance(1);
      parenDepth++;
      emit("leftParen");
    } else if (c === ")") {
      advance(1);
      parenDepth--;
      if (parenDepth < 0) return fail("unexpected right paren");
      emit("rightParen");
    } else if (c.charCodeAt(0) < 0x7f && c.charCodeAt(0) >= 0x20) {
      advance(1);
      emit("char");
    } else {
      return fail(`unrecognized character in action: ${goRune(c)}`);
    }
  }

  /** What may follow an identifier, field or variable. */
  function atTerminator(): boolean {
    const r = input[pos];
    if (r === undefined || isSpace(r)) return true;
    if (".,|:()".includes(r)) return true;
    return input.startsWith(RIGHT, pos);
  }
}

/** Go's %#U: U+0021 '!'. */
function goRune(c: string): string {
  const cp = c.codePointAt(0)!;
  return `U+${cp.toString(16).toUpperCase().padStart(4, "0")} '${c}'`;
}
