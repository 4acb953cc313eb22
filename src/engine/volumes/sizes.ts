/** Sizes as Docker's go-units reads them. */

const RAM_SIZE = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;
const BINARY: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** units.RAMInBytes: "64m", "1.5g", "512KiB", "1024" (binary units); undefined when malformed. */
export function ramInBytes(s: string): number | undefined {
  const m = RAM_SIZE.exec(s);
  if (!m) return undefined;
  const n = Number.parseFloat(m[1]!);
  if (!Number.isFinite(n)) return undefined;
  const bytes = Math.trunc(n * (m[2] ? BINARY[m[2].toLowerCase()]! : 1));
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
