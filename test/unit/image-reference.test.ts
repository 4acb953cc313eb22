import { describe, expect, it } from "vitest";
import { isTsrunError } from "../../src/common/index.js";
import {
  familiarName,
  familiarString,
  normalizeReference,
  parseReference,
  parseTagReference,
  withDefaultTag,
} from "../../src/image/reference.js";

const DIGEST = "sha256:" + "ab".repeat(32);

describe("parseReference normalizes as Docker does", () => {
  it.each([
    ["busybox", "docker.io/library/busybox:latest", "busybox", "busybox:latest"],
    ["busybox:1.36", "docker.io/library/busybox:1.36", "busybox", "busybox:1.36"],
    ["library/busybox", "docker.io/library/busybox:latest", "busybox", "busybox:latest"],
    ["docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox", "busybox:latest"],
    ["index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox", "busybox:latest"],
    ["user/app:v1", "docker.io/user/app:v1", "user/app", "user/app:v1"],
    ["localhost/app", "localhost/app:latest", "localhost/app", "localhost/app:latest"],
    ["localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b", "localhost:5000/a/b:t"],
    ["quay.io/org/img", "quay.io/org/img:latest", "quay.io/org/img", "quay.io/org/img:latest"],
    ["[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x", "[::1]:5000/x:latest"],
    ["a_b-c__d/e---f.g", "docker.io/a_b-c__d/e---f.g:latest", "a_b-c__d/e---f.g", "a_b-c__d/e---f.g:latest"],
    ["Registry.Example.com/app", "Registry.Example.com/app:latest", "Registry.Example.com/app", "Registry.Example.com/app:latest"],
    [`busybox@${DIGEST}`, `docker.io/library/busybox@${DIGEST}`, "busybox", `busybox@${DIGEST}`],
    [`busybox:1@${DIGEST}`, `docker.io/library/busybox:1@${DIGEST}`, "busybox", `busybox:1@${DIGEST}`],
  ])("%s", (input, full, name, familiar) => {
    const ref = withDefaultTag(parseReference(input));
    expect(normalizeReference(input)).toBe(full);
    expect(familiarName(ref)).toBe(name);
    expect(familiarString(ref)).toBe(familiar);
  });

  it("adds no default tag to a digest reference", () => {
    expect(withDefaultTag(parseReference(`busybox@${DIGEST}`)).tag).toBeUndefined();
  });
});

describe("parseReference rejects what Docker rejects", () => {
  it.each([
    ["Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"],
    ["Busybox:latest", "invalid reference format: repository name (library/Busybox) must be lowercase"],
    ["localhost:5000/A", "invalid reference format: repository name (A) must be lowercase"],
    ["busybox:", "invalid reference format"],
    [":tag", "invalid reference format"],
    ["bus box", "invalid reference format"],
    ["busybox:-bad", "invalid reference format"],
    ["a//b", "invalid reference format"],
    ["-a", "invalid reference format"],
    ["busybox@sha256:abc", "invalid reference format"],
    [`busybox@sha256:${"a".repeat(40)}`, "invalid checksum digest length"],
    [`busybox@md5:${"a".repeat(32)}`, "unsupported digest algorithm"],
    ["a".repeat(64), `invalid repository name (${"a".repeat(64)}), cannot specify 64-byte hexadecimal strings`],
    [`${"a".repeat(250)}/b`, "invalid reference format: repository name must not be more than 255 characters"],
  ])("%s", (input, message) => {
    let error: unknown;
    try {
      parseReference(input);
    } catch (e) {
      error = e;
    }
    expect(isTsrunError(error, "invalid-argument")).toBe(true);
    expect((error as Error).message).toBe(message);
  });

  it("refuses a digest where a tag is needed", () => {
    expect(() => parseTagReference(`busybox@${DIGEST}`)).toThrow("refusing to create a tag with a digest reference");
    expect(parseTagReference("busybox").tag).toBe("latest");
  });
});
