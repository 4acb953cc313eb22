/**
 * The form of content digests ("sha256:<64 hex>"), apart from hashing: what reading the
 * store needs, without loading node:crypto (which `run` never needs).
 */
import { corrupt } from "../common/index.js";

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: unknown): s is string {
  return typeof s === "string" && DIGEST_RE.test(s);
}

/** The hex part of a digest, after checking its form (a digest names a file in the store). */
export function digestHex(digest: string): string {
  if (!isDigest(digest)) throw corrupt(`Invalid digest "${digest}"`);
  return digest.slice("sha256:".length);
}
