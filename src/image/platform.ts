/** The platform of this host in OCI terms (GOARCH names), to pick images from multi-platform indexes. */
import type { Platform } from "./oci-types.js";

const GOARCH: Record<string, string> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ia32: "386",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
};

export function hostPlatform(): Platform {
  return { os: "linux", architecture: GOARCH[process.arch] ?? process.arch };
}

/** Whether a descriptor's platform (if it names one) runs here. */
export function matchesHost(platform: Platform | undefined): boolean {
  if (!platform) return true;
  const host = hostPlatform();
  return platform.os === host.os && platform.architecture === host.architecture;
}
