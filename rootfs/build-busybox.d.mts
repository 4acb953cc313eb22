/** Types of build-busybox.mjs, for TypeScript callers (tests). */
export declare const MANIFEST_PATH: string;
export declare const DEFAULT_OUT: string;
export declare function assertStaticElf(file: string): void;
export declare function buildBusyboxArchive(options?: {
  out?: string;
  busybox?: string;
  manifest?: string;
}): Promise<{ file: string; imageId: string; diffId: string; tag: string }>;
