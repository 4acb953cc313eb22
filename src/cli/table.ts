/**
 * Docker's table output: columns padded like Go's tabwriter with minwidth 10, padding 3;
 * the last column is not padded.
 */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(Math.max(widths[i]! + 3, 10))))
      .join("")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/** Go's strconv.Quote for the printable ASCII/UTF-8 text Docker shows. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Docker's Ellipsis: cut to `max` characters, the last being "…". */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : chars.slice(0, max - 1).join("") + "…";
}
