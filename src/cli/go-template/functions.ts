/**
 * Template functions: Go's builtins (text/template's funcs.go) and the ones docker/cli adds
 * to every `--format` (json, split, join, title, lower, upper, pad, truncate). `and` and
 * `or` are evaluated lazily by the executor, as Go does; they are listed here for arity.
 */
import { sprint, sprintf, sprintln } from "./printf.js";
import { formatValue, goJson, goTypeName, isObject, isTrue, structType } from "./values.js";

export interface TemplateFunction {
  fn: (...args: unknown[]) => unknown;
  /** Fixed number of arguments, or the minimum when `variadic`. */
  arity: number;
  variadic?: boolean;
}

export type FuncMap = Record<string, TemplateFunction>;

/** An error inside a function; the executor reports it as "error calling NAME: message". */
export class FunctionError extends Error {}

const f = (fn: (...args: never[]) => unknown, arity: number, variadic = false): TemplateFunction => ({
  fn: fn as (...args: unknown[]) => unknown,
  arity,
  variadic,
});

export const BUILTINS: FuncMap = {
  and: f(() => undefined, 1, true),
  or: f(() => undefined, 1, true),
  not: f((v: unknown) => !isTrue(v), 1),
  len: f(length, 1),
  index: f(index, 1, true),
  slice: f(slice, 1, true),
  print: f((...a: unknown[]) => sprint(a), 0, true),
  println: f((...a: unknown[]) => sprintln(a), 0, true),
  printf: f((format: unknown, ...a: unknown[]) => sprintf(String(format), a), 1, true),
  eq: f(eq, 1, true),
  ne: f((a: unknown, b: unknown) => !eq(a, b), 2),
  lt: f((a: unknown, b: unknown) => compare(a, b) < 0, 2),
  le: f((a: unknown, b: unknown) => compare(a, b) <= 0, 2),
  gt: f((a: unknown, b: unknown) => compare(a, b) > 0, 2),
  ge: f((a: unknown, b: unknown) => compare(a, b) >= 0, 2),
  html: f((...a: unknown[]) => htmlEscape(evalArgs(a)), 0, true),
  js: f((...a: unknown[]) => jsEscape(evalArgs(a)), 0, true),
  urlquery: f((...a: unknown[]) => encodeURIComponent(evalArgs(a)).replace(/%20/g, "+").replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`), 0, true),
  call: f(callFn, 1, true),
};

/** docker/cli's templates.basicFunctions. */
export const DOCKER_FUNCTIONS: FuncMap = {
  json: f((v: unknown) => goJson(v), 1),
  split: f((s: unknown, sep: unknown) => String(s).split(String(sep)), 2),
  join: f((list: unknown, sep: unknown) => {
    if (!Array.isArray(list)) throw new FunctionError(`wrong type for value; expected []string; got ${goTypeName(list)}`);
    return list.map(formatValue).join(String(sep));
  }, 2),
  title: f((s: unknown) => String(s).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_, pre: string, c: string) => pre + c.toUpperCase()), 1),
  lower: f((s: unknown) => String(s).toLowerCase(), 1),
  upper: f((s: unknown) => String(s).toUpperCase(), 1),
  pad: f((s: unknown, prefix: unknown, suffix: unknown) => {
    const str = String(s);
    return str === "" ? str : " ".repeat(Number(prefix)) + str + " ".repeat(Number(suffix));
  }, 3),
  truncate: f((s: unknown, n: unknown) => {
    const str = String(s);
    return str.length < Number(n) ? str : str.slice(0, Number(n));
  }, 2),
};

/** docker/cli's templates.HeaderFunctions: a table's header row passes values through. */
export const DOCKER_HEADER_FUNCTIONS: FuncMap = Object.fromEntries(
  Object.entries(DOCKER_FUNCTIONS).map(([name, fn]) => [name, { ...fn, fn: (v: unknown) => v }]),
);

function evalArgs(args: unknown[]): string {
  return args.length === 1 && typeof args[0] === "string" ? args[0] : sprint(args);
}

function length(v: unknown): number {
  if (v === null || v === undefined) throw new FunctionError("len of nil pointer");
  if (typeof v === "string") return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.length;
  if (isObject(v) && structType(v) === undefined) return Object.keys(v).length;
  throw new FunctionError(`len of type ${goTypeName(v)}`);
}

function index(item: unknown, ...indexes: unknown[]): unknown {
  if (item === null || item === undefined) throw new FunctionError("index of untyped nil");
  let v: unknown = item;
  for (const i of indexes) {
    if (v === null || v === undefined) throw new FunctionError("index of nil pointer");
    if (Array.isArray(v) || typeof v === "string") {
      if (typeof i !== "number" || !Number.isInteger(i)) throw new FunctionError(`cannot index slice/array with type ${goTypeName(i)}`);
      const len = typeof v === "string" ? Buffer.byteLength(v) : v.length;
      if (i < 0 || i >= len) throw new FunctionError(`index out of range: ${i}`);
      v = typeof v === "string" ? Buffer.from(v)[i] : v[i];
    } else if (isObject(v) && structType(v) === undefined) {
      if (typeof i !== "string") throw new FunctionError(`value has type ${goTypeName(i)}; should be string`);
      v = Object.hasOwn(v, i) ? v[i] : zeroOfMap(v);
    } else {
      throw new FunctionError(`can't index item of type ${goTypeName(v)}`);
    }
  }
  return v;
}

/**
 * A missing key's value: Go returns the element type's zero value. The maps inspect shows
 * with `index` are almost always map[string]string (Labels, Options): "" unless the map
 * holds something else.
 */
function zeroOfMap(m: Record<string, unknown>): unknown {
  const values = Object.values(m);
  return values.every((x) => typeof x === "string") ? "" : null;
}

function slice(item: unknown, ...bounds: unknown[]): unknown {
  if (typeof item !== "string" && !Array.isArray(item)) throw new FunctionError(`can't slice item of type ${goTypeName(item)}`);
  if (bounds.length > 3) throw new FunctionError(`too many slice indexes: ${bounds.length}`);
  const len = item.length;
  const [lo = 0, hi = len] = bounds.map(Number);
  if (lo < 0 || hi > len || lo > hi) throw new FunctionError(`index out of range: ${lo > hi ? lo : hi}`);
  return item.slice(lo, hi);
}

function basicKind(v: unknown): "bool" | "number" | "string" | "nil" | undefined {
  if (v === null || v === undefined) return "nil";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return "number";
  if (typeof v === "string") return "string";
  return undefined;
}

function eq(a: unknown, ...others: unknown[]): boolean {
  if (others.length === 0) throw new FunctionError("missing argument for comparison");
  const ka = basicKind(a);
  for (const b of others) {
    const kb = basicKind(b);
    if (ka === undefined || kb === undefined) {
      if (a === b) return true;
      throw new FunctionError("non-comparable types");
    }
    if (ka !== kb && ka !== "nil" && kb !== "nil") throw new FunctionError("incompatible types for comparison");
    if (a === b || (ka === "nil" && kb === "nil")) return true;
  }
  return false;
}

function compare(a: unknown, b: unknown): number {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka === undefined || kb === undefined || ka === "nil" || kb === "nil" || ka === "bool") {
    throw new FunctionError("invalid type for comparison");
  }
  if (ka !== kb) throw new FunctionError("incompatible types for comparison");
  return (a as number | string) < (b as number | string) ? -1 : a === b ? 0 : 1;
}

function callFn(fn: unknown, ...args: unknown[]): unknown {
  if (typeof fn !== "function") throw new FunctionError(`non-function of type ${goTypeName(fn)}`);
  return (fn as (...a: unknown[]) => unknown)(...args);
}

function htmlEscape(s: string): string {
  return s.replace(/[&'<>"\0]/g, (c) => ({ "&": "&amp;", "'": "&#39;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "\0": "\uFFFD" })[c]!);
}

function jsEscape(s: string): string {
  return s.replace(/[\\'"<>&=\x00-\x1f]/g, (c) => {
    if (c === "\\" || c === "'" || c === '"') return "\\" + c;
    return `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
  });
}

