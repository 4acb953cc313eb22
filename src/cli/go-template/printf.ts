/**
 * The part of Go's fmt that templates reach through print, println and printf: operands
 * spaced as fmt.Sprint spaces them, and the common verbs (%v %s %q %d %t %x %X %o %b %c
 * %e %f %g %%) with flags, width and precision. Mistakes print as fmt prints them
 * ("%!d(string=x)", "%!s(MISSING)").
 */
import { formatNumber, formatValue, goJson, goTypeName } from "./values.js";

/** fmt.Sprint: a space between operands when neither is a string. */
export function sprint(args: unknown[]): string {
  let out = "";
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== "string" && typeof args[i - 1] !== "string") out += " ";
    out += formatValue(a);
  });
  return out;
}

/** fmt.Sprintln: spaces between all operands, and a newline. */
export function sprintln(args: unknown[]): string {
  return args.map(formatValue).join(" ") + "\n";
}

interface Spec {
  minus: boolean;
  plus: boolean;
  space: boolean;
  zero: boolean;
  sharp: boolean;
  width?: number;
  precision?: number;
}

export function sprintf(format: string, args: unknown[]): string {
  let out = "";
  let argi = 0;
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf("%", i);
    if (pct === -1) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    i = pct + 1;
    const spec: Spec = { minus: false, plus: false, space: false, zero: false, sharp: false };
    for (; i < format.length; i++) {
      const c = format[i];
      if (c === "-") spec.minus = true;
      else if (c === "+") spec.plus = true;
      else if (c === " ") spec.space = true;
      else if (c === "0") spec.zero = true;
      else if (c === "#") spec.sharp = true;
      else break;
    }
    const width = /^\d+/.exec(format.slice(i));
    if (width) {
      spec.width = Number(width[0]);
      i += width[0].length;
    }
    if (format[i] === ".") {
      i++;
      const prec = /^\d*/.exec(format.slice(i))![0];
      spec.precision = prec === "" ? 0 : Number(prec);
      i += prec.length;
    }
    const verb = format[i];
    i++;
    if (verb === undefined) {
      out += "%!(NOVERB)";
      break;
    }
    if (verb === "%") {
      out += "%";
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += pad(formatOne(verb, args[argi++], spec), spec);
  }
  if (argi < args.length) {
    out += `%!(EXTRA ${args
      .slice(argi)
      .map((a) => `${goTypeName(a)}=${formatValue(a)}`)
      .join(", ")})`;
  }
  return out;
}

function formatOne(verb: string, arg: unknown, spec: Spec): string {
  const bad = () => `%!${verb}(${goTypeName(arg)}=${formatValue(arg)})`;
  switch (verb) {
    case "v":
      if (typeof arg === "number") return signed(formatNumber(arg), arg, spec);
      return spec.sharp && typeof arg === "string" ? JSON.stringify(arg) : formatValue(arg);
    case "s":
      if (typeof arg === "string") return spec.precision !== undefined ? [...arg].slice(0, spec.precision).join("") : arg;
      if (typeof arg === "number" || typeof arg === "boolean") return bad();
      return formatValue(arg);
    case "q":
      if (typeof arg === "string") return spec.sharp && !arg.includes("`") ? "`" + arg + "`" : goJson(arg);
      if (typeof arg === "number" && Number.isInteger(arg)) return `'${String.fromCodePoint(arg)}'`;
      return bad();
    case "t":
      return typeof arg === "boolean" ? String(arg) : bad();
    case "d":
      return typeof arg === "number" && Number.isInteger(arg) ? signed(String(arg), arg, spec) : bad();
    case "c":
      return typeof arg === "number" && Number.isInteger(arg) ? String.fromCodePoint(arg) : bad();
    case "x":
    case "X":
    case "o":
    case "b": {
      const base = verb === "o" ? 8 : verb === "b" ? 2 : 16;
      let s: string;
      if (typeof arg === "number" && Number.isInteger(arg)) s = Math.abs(arg).toString(base);
      else if (typeof arg === "string" && base === 16) s = Buffer.from(arg).toString("hex");
      else return bad();
      if (spec.sharp) s = (base === 16 ? "0x" : base === 8 ? "0" : "0b") + s;
      if (verb === "X") s = s.toUpperCase();
      return typeof arg === "number" && arg < 0 ? "-" + s : signed(s, 1, spec);
    }
    case "e":
    case "E":
    case "f":
    case "F":
    case "g":
    case "G": {
      if (typeof arg !== "number") return bad();
      const p = spec.precision;
      let s: string;
      if (verb === "f" || verb === "F") s = arg.toFixed(p ?? 6);
      else if (verb === "e" || verb === "E") s = expo(arg.toExponential(p ?? 6));
      else s = p === undefined ? formatNumber(arg) : expo(String(Number(arg.toPrecision(p || 1))));
      if (verb === "E" || verb === "G") s = s.toUpperCase();
      return signed(s, arg, spec);
    }
    default:
      return `%!${verb}(${goTypeName(arg)}=${formatValue(arg)})`;
  }
}

/** Go writes exponents with at least two digits: 1e+06. */
function expo(s: string): string {
  return s.replace(/e([+-])(\d)$/, "e$10$2");
}

function signed(s: string, n: number, spec: Spec): string {
  if (n >= 0 && !s.startsWith("-")) {
    if (spec.plus) return "+" + s;
    if (spec.space) return " " + s;
  }
  return s;
}

function pad(s: string, spec: Spec): string {
  const w = spec.width ?? 0;
  const len = [...s].length;
  if (len >= w) return s;
  if (spec.minus) return s + " ".repeat(w - len);
  if (spec.zero && /^[+-]?[0-9]/.test(s)) {
    const sign = /^[+-]/.test(s) ? s[0]! : "";
    return sign + "0".repeat(w - len) + s.slice(sign.length);
  }
  return " ".repeat(w - len) + s;
}
