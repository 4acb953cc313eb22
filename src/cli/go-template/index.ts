/**
 * A subset of Go's text/template, enough for Docker's `--format` and `inspect -f`: fields
 * and nested fields, maps and "structs", methods with arguments, variables, pipelines,
 * parenthesised pipelines, if / else if / else, with, range (with $i, $e and break /
 * continue), trim markers and comments, Go's builtin functions and docker/cli's (json,
 * join, split, lower, upper, title, pad, truncate), with Go's error messages.
 * Not supported: define, template, block (a format string has no use for them).
 *
 * No npm package implements enough of it (the one that exists has no pipelines, variables,
 * printf or Go's errors), hence this one.
 */
import { execute, type ExecOptions } from "./exec.js";
import { BUILTINS, DOCKER_FUNCTIONS, type FuncMap } from "./functions.js";
import { parse, TemplateError, type Node } from "./parser.js";

export class Template {
  private constructor(
    private readonly text: string,
    private readonly name: string,
    private readonly root: Node[],
    private readonly funcs: FuncMap,
  ) {}

  /**
   * Parses `text` with Go's builtins and `funcs` (default: docker/cli's functions). `name`
   * appears in error messages ("template: version:1: …"); Docker's formats use "".
   */
  static parse(text: string, funcs: FuncMap = DOCKER_FUNCTIONS, name = ""): Template {
    const all = { ...BUILTINS, ...funcs };
    return new Template(text, name, parse(text, (fn) => fn in all, name), all);
  }

  /** The output for `data`; throws TemplateError with Go's message. */
  execute(data: unknown, opts: ExecOptions = {}): string {
    return execute(this.text, this.name, this.root, this.funcs, data, opts);
  }

  /** The same template with other functions (docker/cli renders table headers that way). */
  withFunctions(funcs: FuncMap): Template {
    return new Template(this.text, this.name, this.root, { ...this.funcs, ...funcs });
  }
}

export { TemplateError };
export { DOCKER_FUNCTIONS, DOCKER_HEADER_FUNCTIONS, BUILTINS, FunctionError, type FuncMap, type TemplateFunction } from "./functions.js";
export { goStruct, goStructs, goJson, formatValue } from "./values.js";
export { NO_VALUE, type ExecOptions } from "./exec.js";
