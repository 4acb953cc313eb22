/**
 * One record of comma-separated values as Go's encoding/csv reads the first line of its
 * input (what `--mount` values are parsed with): a field may be double-quoted to contain
 * commas, `""` inside quotes is one quote, and a quote anywhere else is an error.
 */
export function readCsvRecord(input: string): string[] {
  const fields: string[] = [];
  let i = 0;
  const fail = (col: number, what: string) => new Error(`parse error on line 1, column ${col}: ${what}`);
  for (;;) {
    let field = "";
    if (input[i] === '"') {
      const start = i;
      i++;
      for (;;) {
        if (i >= input.length) throw fail(start + 1, 'extraneous or missing " in quoted-field');
        if (input[i] === '"') {
          if (input[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += input[i++];
      }
      if (i < input.length && input[i] !== "," && input[i] !== "\n" && input[i] !== "\r") {
        throw fail(i + 1, 'extraneous or missing " in quoted-field');
      }
    } else {
      while (i < input.length && input[i] !== "," && input[i] !== "\n") {
        if (input[i] === '"') throw fail(i + 1, 'bare " in non-quoted-field');
        field += input[i++];
      }
      field = field.replace(/\r$/, "");
    }
    fields.push(field);
    if (i < input.length && input[i] === ",") {
      i++;
      continue;
    }
    return fields;
  }
}
