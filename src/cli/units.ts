/**
 * Sizes as Docker prints them: go-units' CustomSize (scale by the base while the value
 * reaches it, then Go's %.<precision>g and the unit), in its decimal and binary flavours.
 */
const DECIMAL = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

function customSize(size: number, base: number, units: string[], precision: number): string {
  let v = size;
  let i = 0;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  return `${goFormatG(v, precision)}${units[i]}`;
}

/** go-units' HumanSizeWithPrecision: decimal units ("2.05kB", "5B", "1e+03B"); images' SIZE and cp use 3. */
export function humanSizeWithPrecision(bytes: number, precision: number): string {
  return customSize(bytes, 1000, DECIMAL, precision);
}

/** go-units' HumanSize: decimal units, four significant digits ("0B", "36B", "1.234kB"). */
export function humanSize(bytes: number): string {
  return humanSizeWithPrecision(bytes, 4);
}

/** go-units' BytesSize: binary units, four significant digits ("23.47GiB"). */
export function bytesSize(bytes: number): string {
  return customSize(bytes, 1024, BINARY, 4);
}

/** Go's %.<p>g: shortest of %e and %f at p significant digits, trailing zeros dropped. */
export function goFormatG(x: number, p: number): string {
  if (x === 0) return "0";
  const e = x.toExponential(p - 1);
  const exp = Number(e.slice(e.indexOf("e") + 1));
  const trim = (s: string) => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
  if (exp < -4 || exp >= p) {
    const [mant] = e.split("e");
    return `${trim(mant!)}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return trim(x.toFixed(p - 1 - exp));
}
