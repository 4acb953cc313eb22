/**
 * How JavaScript values stand in for Go values in templates. A plain object is a Go map
 * (printed `map[k:v]`, keys sorted); an object marked with `goStruct()` is a struct (printed
 * `{v1 v2}` in field order, and a missing field is an error naming the type, as Go's
 * "can't evaluate field X in type T"); a function is a method, called with the arguments
 * the template gives it.
 */

const STRUCT_TYPE = Symbol("go.struct");

/** Marks `obj` as a Go struct of type `typeName` ("*formatter.ContainerContext"). */
export function goStruct<T extends object>(obj: T, typeName: string): T {
  Object.defineProperty(obj, STRUCT_TYPE, { value: typeName, enumerable: false });
  return obj;
}

/** Marks every nested plain object of `value` as a struct, except those `isMap` names. */
export function goStructs<T>(value: T, typeName: (path: string[]) => string | undefined, path: string[] = []): T {
  if (Array.isArray(value)) {
    for (const v of value) goStructs(v, typeName, path);
  } else if (isObject(value)) {
    const t = typeName(path);
    if (t !== undefined) goStruct(value, t);
    for (const [k, v] of Object.entries(value)) goStructs(v, typeName, [...path, k]);
  }
  return value;
}

export function structType(v: unknown): string | undefined {
  return isObject(v) ? ((v as Record<symbol, string>)[STRUCT_TYPE] ?? undefined) : undefined;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The Go type a value stands for, in error messages. */
export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return "<nil>";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (typeof v === "function") return "func";
  if (Array.isArray(v)) return "[]interface {}";
  return structType(v) ?? "map[string]interface {}";
}

/** Go's truth for if/with/and/or/not: false, 0, nil and empty things are false. */
export function isTrue(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "string") return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "function") return true;
  if (isObject(v)) return structType(v) !== undefined || Object.keys(v).length > 0;
  return true;
}

/** Map keys in Go's print and range order (sorted; numeric keys as numbers). */
export function sortedKeys(m: Record<string, unknown>): string[] {
  return Object.keys(m).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** fmt's %v of a value. */
export function formatValue(v: unknown): string {
  if (v === undefined || v === null) return "<nil>";
  if (typeof v === "string") return v;
  if (typeof v === "number") return formatNumber(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "function") return "<func>";
  if (Array.isArray(v)) return `[${v.map(formatValue).join(" ")}]`;
  if (isObject(v)) {
    if (structType(v) !== undefined) return `{${Object.values(v).map(formatValue).join(" ")}}`;
    return `map[${sortedKeys(v)
      .map((k) => `${k}:${formatValue(v[k])}`)
      .join(" ")}]`;
  }
  return String(v);
}

/** Go's %v of an int or float64 (strconv 'g' with the shortest precision). */
export function formatNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  if (!Number.isFinite(n)) return Number.isNaN(n) ? "NaN" : n > 0 ? "+Inf" : "-Inf";
  const exp = Math.floor(Math.log10(Math.abs(n)));
  if (exp < -4 || exp >= 21) {
    const [mant, e] = n.toExponential().split("e") as [string, string];
    const sign = e.startsWith("-") ? "-" : "+";
    return `${mant}e${sign}${e.replace(/^[+-]/, "").padStart(2, "0")}`;
  }
  return String(n);
}

/**
 * JSON as Docker's `json` template function writes it (encoding/json, HTML characters left
 * alone): JSON.stringify, plus Go's escaping of U+2028 and U+2029.
 */
export function goJson(v: unknown): string {
  return (JSON.stringify(v === undefined ? null : v) ?? "null").replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}
