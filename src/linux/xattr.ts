/**
 * Extended attributes on a path without following a final symlink (the l* calls). Node has no
 * xattr API. Callers resolve the parent directories themselves (see src/image/in-root.ts);
 * these wrappers only guarantee the last component is not followed.
 */
import { check, errno, errnoError, fn } from "./ffi.js";

const XATTR_SIZE_MAX = 65536;

export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  const ret = fn("int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)")(
    path,
    name,
    value,
    value.byteLength,
    0,
  ) as number;
  check(ret, `lsetxattr ${name}`, path);
}

/** The value of an attribute, or undefined when the path does not have it (ENODATA). */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  const buf = Buffer.alloc(XATTR_SIZE_MAX);
  const ret = Number(
    fn("intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)")(
      path,
      name,
      buf,
      buf.byteLength,
    ),
  );
  if (ret === -1) {
    const err = errno();
    if (err === 61 /* ENODATA */) return undefined;
    throw errnoError(`lgetxattr ${name}`, err, path);
  }
  return buf.subarray(0, ret);
}

/** The names of the attributes a path has. */
export function llistxattr(path: string): string[] {
  const buf = Buffer.alloc(XATTR_SIZE_MAX);
  const ret = Number(fn("intptr_t llistxattr(const char *path, _Out_ char *list, size_t size)")(path, buf, buf.byteLength));
  check(ret, "llistxattr", path);
  return buf
    .subarray(0, ret)
    .toString("utf8")
    .split("\0")
    .filter((n) => n.length > 0);
}
