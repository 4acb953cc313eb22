/**
 * docker/cli's `--format` handling (cli/command/formatter): "table" (the command's default
 * columns), "json" (one JSON object a line), "table TEMPLATE" (a header row and aligned
 * columns) or a bare TEMPLATE (one line per item). `\t` and `\n` written literally in the
 * format are turned into a tab and a newline first, as Docker does.
 */
import { ExitStatus } from "../exit.js";
import { DOCKER_HEADER_FUNCTIONS, Template, TemplateError } from "./index.js";
import { goStruct } from "./values.js";

export interface FormatRequest<Row> {
  /** The user's --format, or undefined for the default table. */
  format: string | undefined;
  /** The command's default: "table {{.ID}}\t{{.Image}}…". */
  defaultTable: string;
  /** Column headers by field name ("ID" → "CONTAINER ID"). */
  headers: Record<string, string>;
  rows: Row[];
}

/**
 * Renders rows the way docker/cli's formatter.Context does. A template that does not parse
 * or run is the command's error: "template parsing error: …", exit 1.
 */
export function renderFormat<Row>(req: FormatRequest<Row>): string {
  try {
    return render(req);
  } catch (e) {
    if (e instanceof TemplateError) throw new ExitStatus(1, `template parsing error: ${e.message}`);
    throw e;
  }
}

function render<Row>(req: FormatRequest<Row>): string {
  let format = req.format === undefined || req.format === "" || req.format === "table" ? req.defaultTable : req.format;
  if (format === "json") format = "{{json .}}";
  const table = format.startsWith("table");
  if (table) format = format.slice("table".length);
  format = format.replace(/^ +| +$/g, "").replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  const tmpl = Template.parse(format);
  let body = "";
  for (const row of req.rows) body += tmpl.execute(row) + "\n";
  if (!table) return body;
  // docker/cli ignores an error in the header row and keeps what it wrote before it
  // (a {{.Label "x"}} column gets an empty header).
  let header: string;
  try {
    header = tmpl.withFunctions(DOCKER_HEADER_FUNCTIONS).execute(req.headers);
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    header = e.partial;
  }
  return tabwrite(header + "\n" + body, { minWidth: 10, padding: 3 });
}

/**
 * Go's text/tabwriter (flags 0, padding with spaces): tab-terminated cells are aligned in
 * columns, a column's width set by each block of consecutive lines that have it; the text
 * after a line's last tab is not part of any column.
 */
export function tabwrite(text: string, opts: { minWidth: number; padding: number }): string {
  const lines = text.split("\n").map((l) => l.split("\t"));
  const width = (s: string) => [...s].length;
  const widths: number[] = [];
  let out = "";

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const cells = lines[i]!;
      cells.forEach((c, j) => {
        if (j < cells.length - 1) out += c + " ".repeat(Math.max(0, (widths[j] ?? 0) - width(c)));
        else out += c;
      });
      if (i < lines.length - 1) out += "\n";
    }
  };

  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let i = line0; i < line1; i++) {
      if (column >= lines[i]!.length - 1) continue;
      writeLines(line0, i);
      line0 = i;
      let w = opts.minWidth;
      for (; i < line1 && column < lines[i]!.length - 1; i++) w = Math.max(w, width(lines[i]![column]!) + opts.padding);
      widths.push(w);
      format(line0, i);
      widths.pop();
      line0 = i;
      i--; // the loop's i++ must look at the line that ended the block
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out;
}

// ps and images: docker/cli's ContainerContext and ImageContext -------------------------------

/** A row of `ps` as the CLI computed it. */
export interface PsRow {
  ID: string;
  Image: string;
  Command: string;
  /** RFC 3339. */
  CreatedAt: string;
  RunningFor: string;
  Status: string;
  State: string;
  Ports: string;
  Names: string;
  Labels: string;
}

export const PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
export const PS_HEADERS: Record<string, string> = {
  ID: "CONTAINER ID",
  Image: "IMAGE",
  Command: "COMMAND",
  CreatedAt: "CREATED AT",
  RunningFor: "CREATED",
  Ports: "PORTS",
  State: "STATE",
  Status: "STATUS",
  Size: "SIZE",
  Names: "NAMES",
  Labels: "LABELS",
  Label: "LABEL",
  Mounts: "MOUNTS",
  Networks: "NETWORKS",
  LocalVolumes: "LOCAL VOLUMES",
};

/** docker/cli's ContainerContext: its fields (JSON keys sorted, as its MarshalJSON) and .Label. */
export function psContext(r: PsRow): object {
  const labels = Object.fromEntries(
    r.Labels.split(",")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=") === -1 ? kv.length : kv.indexOf("=")), kv.includes("=") ? kv.slice(kv.indexOf("=") + 1) : ""]),
  );
  const ctx = {
    Command: r.Command,
    CreatedAt: goTimeString(new Date(r.CreatedAt)),
    ID: r.ID,
    Image: r.Image,
    Labels: r.Labels,
    LocalVolumes: "0",
    Mounts: "",
    Names: r.Names,
    Networks: "none",
    Ports: r.Ports,
    RunningFor: r.RunningFor,
    Size: "0B",
    State: r.State,
    Status: r.Status,
  };
  Object.defineProperty(ctx, "Label", { value: (name: unknown) => labels[String(name)] ?? "", enumerable: false });
  return goStruct(ctx, "*formatter.ContainerContext");
}

/** A row of `images`. */
export interface ImageRow {
  Repository: string;
  Tag: string;
  ID: string;
  Digest: string;
  CreatedSince: string;
  /** RFC 3339, or undefined when the image has no creation time. */
  CreatedAt: string | undefined;
  Size: string;
}

export const IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
export const IMAGES_HEADERS: Record<string, string> = {
  Repository: "REPOSITORY",
  Tag: "TAG",
  ID: "IMAGE ID",
  Digest: "DIGEST",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  Size: "SIZE",
  Containers: "CONTAINERS",
  VirtualSize: "VIRTUAL SIZE",
  SharedSize: "SHARED SIZE",
  UniqueSize: "UNIQUE SIZE",
};

/** docker/cli's ImageContext (JSON keys sorted, as its MarshalJSON). */
export function imageContext(r: ImageRow): object {
  return goStruct(
    {
      Containers: "N/A",
      CreatedAt: r.CreatedAt ? goTimeString(new Date(r.CreatedAt)) : "",
      CreatedSince: r.CreatedSince,
      Digest: r.Digest,
      ID: r.ID,
      Repository: r.Repository,
      SharedSize: "N/A",
      Size: r.Size,
      Tag: r.Tag,
      UniqueSize: "N/A",
      VirtualSize: r.Size,
    },
    "*formatter.ImageContext",
  );
}

/** Go's time.Time.String() to the second, in local time: "2024-05-01 10:00:00 +0000 UTC". */
export function goTimeString(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const zone = `${sign}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)}`;
  const name = off === 0 ? "UTC" : zone;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone} ${name}`;
}
