/**
 * The Go text/template subset: outputs and error messages as Go's text/template and
 * docker/cli print them (expected strings taken from Go's behaviour).
 */
import { describe, expect, it } from "vitest";
import { Template, TemplateError, goStruct, goStructs } from "../../src/cli/go-template/index.js";
import { renderFormat, tabwrite } from "../../src/cli/go-template/docker-format.js";

const run = (text: string, data: unknown, missingKeyError = false) => Template.parse(text).execute(data, { missingKeyError });
const fails = (text: string, data: unknown = {}, missingKeyError = false) => {
  try {
    run(text, data, missingKeyError);
  } catch (e) {
    expect(e).toBeInstanceOf(TemplateError);
    return (e as Error).message;
  }
  throw new Error(`"${text}" did not fail`);
};

const container = () =>
  goStructs(
    {
      Id: "abc",
      Name: "/web",
      Args: ["-c", "echo hi"],
      State: { Status: "running", Running: true, Pid: 42, ExitCode: 0 },
      Config: { Labels: { b: "2", a: "1" }, Env: ["A=1", "B=2"], Cmd: null },
      HostConfig: { Memory: 33554432, NanoCpus: 500000000 },
    },
    (path) => (path.length === 0 ? "types.ContainerJSON" : path.at(-1) === "Labels" ? undefined : `types.${path.at(-1)}`),
  );

describe("Go templates: output", () => {
  it("prints fields, nested fields and literals", () => {
    const c = container();
    expect(run("{{.State.Status}}", c)).toBe("running");
    expect(run("{{.Name}} pid={{.State.Pid}} {{.State.Running}}", c)).toBe("/web pid=42 true");
    expect(run(`{{"a\\tb"}} {{3}} {{true}} {{.}}`, "x")).toBe("a\tb 3 true x");
    expect(run("{{.HostConfig.Memory}}", c)).toBe("33554432");
  });

  it("prints values as fmt's %v does", () => {
    const c = container();
    expect(run("{{.Args}}", c)).toBe("[-c echo hi]");
    expect(run("{{.Config.Labels}}", c)).toBe("map[a:1 b:2]");
    expect(run("{{.State}}", c)).toBe("{running true 42 0}");
    expect(run("{{.Config.Cmd}}", c)).toBe("<nil>");
    expect(run("{{.nope}}", {})).toBe("<no value>");
  });

  it("has json, index, join, lower, upper, title, split, pad, truncate, println, printf, len", () => {
    const c = container();
    expect(run("{{json .Config.Labels}}", c)).toBe('{"b":"2","a":"1"}');
    expect(run("{{json .Config.Cmd}}", c)).toBe("null");
    expect(run('{{json "<a&b>"}}', c)).toBe('"<a&b>"');
    expect(run('{{index .Config.Labels "a"}}', c)).toBe("1");
    expect(run('{{index .Config.Labels "zz"}}', c)).toBe("");
    expect(run("{{index .Args 1}}", c)).toBe("echo hi");
    expect(run('{{join .Args ","}}', c)).toBe("-c,echo hi");
    expect(run("{{lower .State.Status}} {{upper .State.Status}} {{title \"hello big world\"}}", c)).toBe("running RUNNING Hello Big World");
    expect(run('{{split "a:b:c" ":"}}', c)).toBe("[a b c]");
    expect(run('[{{pad "x" 1 2}}][{{pad "" 1 2}}] {{truncate "abcdef" 3}} {{truncate "ab" 3}}', c)).toBe("[ x  ][] abc ab");
    expect(run("{{println .Name}}", c)).toBe("/web\n");
    expect(run('{{printf "%s has %d args (%5.2f) %q %v %x %-4s|" .Name (len .Args) 1.5 "q" .Args 255 "ab"}}', c)).toBe(
      '/web has 2 args ( 1.50) "q" [-c echo hi] ff ab  |',
    );
    expect(run('{{printf "%d"}} {{printf "%d" "s"}} {{printf "x" 1}}', c)).toBe("%!d(MISSING) %!d(string=s) x%!(EXTRA int=1)");
    expect(run('{{print "a" 1 2 "b"}}', c)).toBe("a1 2b");
    expect(run("{{len .Config.Labels}} {{len .Name}}", c)).toBe("2 4");
  });

  it("pipes a value into the last argument", () => {
    const c = container();
    expect(run('{{.Name | printf "<%s>"}}', c)).toBe("</web>");
    expect(run("{{.State.Status | upper | lower}}", c)).toBe("running");
    expect(run("{{(index .Args 0) | len}}", c)).toBe("2");
  });

  it("runs range over lists and maps, with variables, else, break and continue", () => {
    const c = container();
    expect(run("{{range .Args}}{{.}} {{end}}", c)).toBe("-c echo hi ");
    expect(run("{{range $i, $e := .Args}}{{$i}}={{$e}};{{end}}", c)).toBe("0=-c;1=echo hi;");
    expect(run("{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}} {{end}}", c)).toBe("a:1 b:2 ");
    expect(run("{{range .Config.Cmd}}x{{else}}none{{end}}", c)).toBe("none");
    expect(run("{{range .Config.Env}}{{if eq . \"B=2\"}}{{break}}{{end}}{{.}};{{end}}", c)).toBe("A=1;");
    expect(run("{{range .Config.Env}}{{if eq . \"A=1\"}}{{continue}}{{end}}{{.}};{{end}}", c)).toBe("B=2;");
    expect(run("{{range .Args}}{{$.Name}}{{end}}", c)).toBe("/web/web");
    expect(run("{{$n := .Name}}{{range .Args}}{{$n}}{{end}}", c)).toBe("/web/web");
    expect(run("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", c)).toBe("2");
  });

  it("runs if / else if / else, with, and, or, not, comparisons", () => {
    const c = container();
    expect(run('{{if eq .State.Status "running"}}up{{else}}down{{end}}', c)).toBe("up");
    expect(run('{{if eq .State.Status "x" "running"}}any{{end}}', c)).toBe("any");
    expect(run("{{if .Config.Cmd}}a{{else if .State.Running}}b{{else}}c{{end}}", c)).toBe("b");
    expect(run("{{with .State}}{{.Pid}}{{end}}{{with .Config.Cmd}}x{{else}}no cmd{{end}}", c)).toBe("42no cmd");
    expect(run("{{and .State.Running .Name}} {{or .Config.Cmd .Name}} {{not .State.Running}}", c)).toBe("/web /web false");
    expect(run("{{if and .Config.Cmd .Config.Cmd.Nope}}x{{else}}short{{end}}", c)).toBe("short");
    expect(run("{{lt 1 2}} {{ge .State.Pid 43}} {{ne .Name \"/web\"}}", c)).toBe("true false false");
  });

  it("trims around {{- and -}} and drops comments", () => {
    expect(run("a  {{- 1 -}}  b {{/* note */}}c{{- /* x */ -}} d", {})).toBe("a1b cd");
  });

  it("calls methods of the data with arguments", () => {
    const row = goStruct({ ID: "abc", Label: (k: unknown) => (k === "x" ? "1" : "") }, "*formatter.ContainerContext");
    expect(run('{{.ID}} {{.Label "x"}}[{{.Label "y"}}]', row)).toBe("abc 1[]");
  });
});

describe("Go templates: errors", () => {
  it("names a missing map key (missingkey=error) with Go's location", () => {
    expect(fails("{{.Nope}}", {}, true)).toBe('template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"');
    expect(fails("{{json .Nope}}", {}, true)).toBe('template: :1:7: executing "" at <.Nope>: map has no entry for key "Nope"');
    expect(fails("ab\n {{.State.Nope}}", { State: {} }, true)).toBe(
      'template: :2:3: executing "" at <.State.Nope>: map has no entry for key "Nope"',
    );
  });

  it("names a missing struct field and its type", () => {
    expect(fails("{{.Nope}}", container())).toBe('template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type types.ContainerJSON');
    expect(fails("{{.Name.Foo}}", container())).toBe('template: :1:2: executing "" at <.Name.Foo>: can\'t evaluate field Foo in type string');
  });

  it("reports function errors and arity", () => {
    expect(fails("{{index .Args 5}}", container())).toBe('template: :1:2: executing "" at <index .Args 5>: error calling index: index out of range: 5');
    expect(fails("{{lower}}")).toBe('template: :1:2: executing "" at <lower>: wrong number of args for lower: want 1 got 0');
    expect(fails("{{lt 1 \"a\"}}")).toBe('template: :1:2: executing "" at <lt 1 "a">: error calling lt: incompatible types for comparison');
  });

  it("reports parse errors as Go does", () => {
    expect(fails("{{.Name")).toBe("template: :1: unclosed action");
    expect(fails("{{nope .Name}}")).toBe('template: :1: function "nope" not defined');
    expect(fails("{{end}}")).toBe("template: :1: unexpected {{end}}");
    expect(fails("{{if .A}}x")).toBe("template: :1: unexpected EOF");
    expect(fails("{{.A}")).toBe("template: :1: bad character U+007D '}'");
    expect(fails("{{.A,}}")).toBe('template: :1: unexpected "," in operand');
    expect(fails("{{$x}}")).toBe('template: :1: undefined variable "$x"');
    expect(fails("{{}}")).toBe("template: :1: missing value for command");
    expect(fails("{{break}}")).toBe("template: :1: {{break}} outside {{range}}");
    expect(fails('{{"abc}}')).toBe("template: :1: unterminated quoted string");
  });
});

describe("docker/cli formats", () => {
  const rows = [
    goStruct({ ID: "aaa", Names: "first", Status: "Up 1 second" }, "*formatter.ContainerContext"),
    goStruct({ ID: "bbbbbbbbbbbbbb", Names: "second", Status: "Exited (0)" }, "*formatter.ContainerContext"),
  ];
  const headers = { ID: "CONTAINER ID", Names: "NAMES", Status: "STATUS" };

  it("renders a table template with headers, aligned like Go's tabwriter", () => {
    const out = renderFormat({ format: "table {{.ID}}\\t{{.Names}}", defaultTable: "", headers, rows });
    expect(out).toBe("CONTAINER ID     NAMES\naaa              first\nbbbbbbbbbbbbbb   second\n");
  });

  it("renders a bare template one line per row, json as {{json .}}", () => {
    expect(renderFormat({ format: "{{.ID}}\\t{{.Names}}", defaultTable: "", headers, rows })).toBe("aaa\tfirst\nbbbbbbbbbbbbbb\tsecond\n");
    expect(renderFormat({ format: "json", defaultTable: "", headers, rows: rows.slice(0, 1) })).toBe(
      '{"ID":"aaa","Names":"first","Status":"Up 1 second"}\n',
    );
  });

  it("uses the default table for 'table' and no format, headers even with no rows", () => {
    expect(renderFormat({ format: "table", defaultTable: "table {{.ID}}\t{{.Status}}", headers, rows: [] })).toBe("CONTAINER ID   STATUS\n");
    expect(renderFormat({ format: undefined, defaultTable: "table {{.Names}}\t{{.Status}}", headers, rows: rows.slice(0, 1) })).toBe(
      "NAMES     STATUS\nfirst     Up 1 second\n",
    );
  });

  it("tabwriter: min width, padding, blocks of lines with fewer cells", () => {
    expect(tabwrite("a\tb\tc\nlonger text\tb\n", { minWidth: 10, padding: 3 })).toBe("a             b         c\nlonger text   b\n");
    expect(tabwrite("x\ny\tz\n", { minWidth: 4, padding: 1 })).toBe("x\ny   z\n");
  });
});
