/**
 * Image references as Docker reads and writes them (the distribution/reference grammar):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [domain "/"] path-component ["/" path-component]*
 *
 * `busybox` normalizes to docker.io/library/busybox, and `busybox` is how Docker shows it
 * back (the "familiar" form). A name without tag or digest means `:latest` where an image is
 * looked up or stored.
 */
import { invalidArgument } from "../common/index.js";

export const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";
export const DEFAULT_TAG = "latest";
const NAME_TOTAL_LENGTH_MAX = 255;

const alphanumeric = "[a-z0-9]+";
const separator = "(?:[._]|__|[-]+)";
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const ipv6Host = "\\[[a-fA-F0-9:]+\\]";
const domainPattern = `(?:${domainName}|${ipv6Host})(?::[0-9]+)?`;
const tagPattern = "[\\w][\\w.-]{0,127}";
const digestPattern = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const namePattern = `(?:${domainPattern}/)?${pathComponent}(?:/${pathComponent})*`;

const referenceRegexp = new RegExp(`^(${namePattern})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
const tagRegexp = new RegExp(`^${tagPattern}$`);
const fullIdRegexp = /^[a-f0-9]{64}$/;

export interface Reference {
  /** Registry host, with port: "docker.io", "localhost:5000". */
  readonly domain: string;
  /** Repository path inside the registry: "library/busybox", "a/b". */
  readonly path: string;
  readonly tag?: string;
  /** "sha256:<64 hex>" */
  readonly digest?: string;
}

/** Splits off the registry the way Docker does: the first component is a domain only if it looks like one. */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf("/");
  let domain: string;
  let remainder: string;
  const first = i === -1 ? "" : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes("/")) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

function parseDigest(digest: string): string {
  const [algorithm, hex] = digest.split(":", 2) as [string, string];
  if (algorithm !== "sha256") throw invalidArgument("unsupported digest algorithm");
  if (hex.length !== 64) throw invalidArgument("invalid checksum digest length");
  if (!/^[a-f0-9]{64}$/.test(hex)) throw invalidArgument("invalid checksum digest format");
  return digest;
}

/**
 * Parses and normalizes a reference (Docker's ParseNormalizedNamed): `busybox` →
 * docker.io/library/busybox. No default tag is added here; see withDefaultTag().
 */
export function parseReference(s: string): Reference {
  if (fullIdRegexp.test(s)) {
    throw invalidArgument(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const { domain, remainder } = splitDockerDomain(s);
  const tagSep = remainder.indexOf(":");
  const remoteName = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remoteName.toLowerCase() !== remoteName) {
    throw invalidArgument(`invalid reference format: repository name (${remoteName}) must be lowercase`);
  }
  const full = `${domain}/${remainder}`;
  const m = referenceRegexp.exec(full);
  if (!m) {
    if (s === "") throw invalidArgument("invalid reference format: repository name must have at least one component");
    if (referenceRegexp.test(full.toLowerCase())) {
      throw invalidArgument("invalid reference format: repository name must be lowercase");
    }
    throw invalidArgument("invalid reference format");
  }
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalidArgument(`invalid reference format: repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  const ref: { domain: string; path: string; tag?: string; digest?: string } = {
    domain,
    path: name.slice(domain.length + 1),
  };
  if (m[2] !== undefined) ref.tag = m[2];
  if (m[3] !== undefined) ref.digest = parseDigest(m[3]);
  return ref;
}

/** Docker's TagNameOnly: a reference with neither tag nor digest gets `:latest`. */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** Parses, normalizes and adds the default tag: the form image names are stored in. */
export function normalizeReference(s: string): string {
  return formatReference(withDefaultTag(parseReference(s)));
}

/** A reference that names a tag (never a digest): what `tag`, `load` and `build -t` store. */
export function parseTagReference(s: string): Reference {
  const ref = withDefaultTag(parseReference(s));
  if (ref.digest !== undefined) throw invalidArgument("refusing to create a tag with a digest reference");
  return ref;
}

export function isValidTag(tag: string): boolean {
  return tagRegexp.test(tag);
}

/** The repository without tag or digest: "docker.io/library/busybox". */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalized form: "docker.io/library/busybox:latest". */
export function formatReference(ref: Reference): string {
  return repositoryName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : "") + (ref.digest !== undefined ? `@${ref.digest}` : "");
}

/** The repository as Docker shows it (the REPOSITORY column): "busybox", "localhost:5000/a/b". */
export function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  return ref.path.startsWith(OFFICIAL_REPO_PREFIX) && ref.path.indexOf("/", OFFICIAL_REPO_PREFIX.length) === -1
    ? ref.path.slice(OFFICIAL_REPO_PREFIX.length)
    : ref.path;
}

/** The whole reference as Docker shows it: "busybox:latest", "localhost:5000/a/b:t". */
export function familiarString(ref: Reference): string {
  return familiarName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : "") + (ref.digest !== undefined ? `@${ref.digest}` : "");
}

/** familiarString of a stored (already normalized) name. */
export function familiarize(fullName: string): string {
  return familiarString(parseReference(fullName));
}
