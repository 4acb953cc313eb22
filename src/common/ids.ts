import { randomBytes } from "./random.js";

/** A container or volume id: 64 lowercase hex digits, as Docker's. */
export function newId(): string {
  return randomBytes(32).toString("hex");
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

export const isFullId = (s: string): boolean => /^[0-9a-f]{64}$/.test(s);
export const isIdPrefix = (s: string): boolean => /^[0-9a-f]{1,64}$/.test(s);
