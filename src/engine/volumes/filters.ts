/**
 * `volume ls -f` and `volume prune --filter`: Docker's filter syntax (key=value, repeated keys
 * are alternatives), its accepted keys and its matching rules.
 */
import { invalidArgument } from "../../common/errors.js";
import { ANONYMOUS_LABEL } from "./names.js";
import type { Volume } from "./store.js";

/** Filter key → its distinct values, in the order given. */
export type Filters = Map<string, string[]>;

/** `-f key=value` flags as the CLI reads them (keys lower-cased, both sides trimmed). */
export function parseFilterFlags(specs: readonly string[], flag = "-f, --filter"): Filters {
  const filters: Filters = new Map();
  for (const spec of specs) {
    if (spec === "") continue;
    const eq = spec.indexOf("=");
    if (eq === -1) {
      throw invalidArgument(`invalid argument ${JSON.stringify(spec)} for "${flag}" flag: bad format of filter (expected name=value)`);
    }
    addFilter(filters, spec.slice(0, eq).trim().toLowerCase(), spec.slice(eq + 1).trim());
  }
  return filters;
}

function addFilter(filters: Filters, key: string, value: string): void {
  const values = filters.get(key);
  if (!values) filters.set(key, [value]);
  else if (!values.includes(value)) values.push(value);
}

/** Go's fmt of `invalid filter 'key=[v1 v2]'`. */
function invalidFilter(key: string, values?: string[]): Error {
  return invalidArgument(values ? `invalid filter '${key}=[${values.join(" ")}]'` : `invalid filter '${key}'`);
}

function validateKeys(filters: Filters, accepted: readonly string[]): void {
  for (const key of filters.keys()) if (!accepted.includes(key)) throw invalidFilter(key);
}

/** filters.Args.GetBoolOrDefault: only 1/true/0/false, and not both. */
function boolFilter(filters: Filters, key: string): boolean | undefined {
  const values = filters.get(key);
  if (!values) return undefined;
  const isFalse = values.includes("0") || values.includes("false");
  const isTrue = values.includes("1") || values.includes("true");
  if (isFalse === isTrue) throw invalidFilter(key, values);
  return isTrue;
}

/** filters.Args.MatchKVList: every `key` or `key=value` given must be among the labels. */
function matchLabels(wanted: readonly string[], labels: Record<string, string> | null): boolean {
  if (wanted.length === 0) return true;
  if (!labels || Object.keys(labels).length === 0) return false;
  return wanted.every((w) => {
    const eq = w.indexOf("=");
    const key = eq === -1 ? w : w.slice(0, eq);
    if (!(key in labels)) return false;
    return eq === -1 || labels[key] === w.slice(eq + 1);
  });
}

/** filters.Args.Match: an exact value, else a value as an (unanchored) regular expression. */
function matchName(patterns: readonly string[], name: string): boolean {
  if (patterns.includes(name)) return true;
  return patterns.some((p) => {
    try {
      return new RegExp(p).test(name);
    } catch {
      return false; // Docker skips a pattern that does not compile
    }
  });
}

function labelPredicate(filters: Filters): (v: Volume) => boolean {
  const want = filters.get("label") ?? [];
  const notWant = filters.get("label!");
  return (v) => matchLabels(want, v.Labels) && !(notWant && matchLabels(notWant, v.Labels));
}

/** `volume ls` filters: dangling, name, driver, label. `inUse` says whether a volume has users. */
export function listPredicate(filters: Filters, inUse: (name: string) => boolean): (v: Volume) => boolean {
  validateKeys(filters, ["dangling", "name", "driver", "label"]);
  const dangling = boolFilter(filters, "dangling");
  const names = filters.get("name");
  const drivers = filters.get("driver");
  const labels = labelPredicate(filters);
  return (v) =>
    (!drivers || drivers.includes(v.Driver)) &&
    (!names || matchName(names, v.Name)) &&
    labels(v) &&
    (dangling === undefined || inUse(v.Name) !== dangling);
}

/**
 * `volume prune` filters: label, label!, all. Without `all` (or `--all`) only anonymous
 * volumes are candidates (Docker since API 1.42).
 */
export function prunePredicate(filters: Filters, all: boolean): (v: Volume) => boolean {
  validateKeys(filters, ["label", "label!", "all"]);
  const allValues = filters.get("all");
  if (all && allValues) throw invalidArgument("conflicting options: cannot specify both --all and --filter all=1");
  let everything = all;
  if (allValues) {
    if (allValues.length > 1) throw invalidFilter("all", allValues);
    const b = parseGoBool(allValues[0]!);
    if (b === undefined) throw invalidArgument(`invalid filter 'all': strconv.ParseBool: parsing ${JSON.stringify(allValues[0])}: invalid syntax`);
    everything = b;
  }
  const labels = labelPredicate(filters);
  return (v) => labels(v) && (everything || (v.Labels !== null && ANONYMOUS_LABEL in v.Labels));
}

/** strconv.ParseBool. */
export function parseGoBool(s: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return undefined;
}
