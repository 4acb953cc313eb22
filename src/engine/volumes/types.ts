/**
 * The shapes that cross between mount parsing, the volume store and the engine: typed mount
 * requests (what the user asked for, validated), and Docker's mount point records (what a
 * container record keeps and `inspect` shows as Mounts).
 */

/** Where a request came from: it decides precedence and Docker's `Mode` in the record. */
export type MountOrigin = "mount" | "volume-flag" | "anonymous-flag" | "image" | "volumes-from";

/** A named or anonymous volume at `target`. */
export interface VolumeRequest {
  kind: "volume";
  /** The volume's name; undefined for an anonymous volume until `prepareMounts` names it. */
  name?: string;
  /** Created for this container without a name (removed with it by `rm -v` and `--rm`). */
  anonymous: boolean;
  /** Absolute and clean. */
  target: string;
  readonly: boolean;
  /** Do not fill the volume from the image's content at `target`. */
  nocopy: boolean;
  /** Options and labels for the volume if this request creates it (`--mount volume-opt=…`). */
  createOptions?: Record<string, string>;
  createLabels?: Record<string, string>;
  origin: MountOrigin;
  /** Docker's Mode string for the record ("z", "ro", "" …). */
  mode: string;
}

/** A host path bound in. */
export interface BindRequest {
  kind: "bind";
  /** Absolute and clean. */
  source: string;
  target: string;
  readonly: boolean;
  /** "rprivate" unless asked otherwise. */
  propagation: string;
  /** rbind (the default) or bind (`bind-recursive=disabled`). */
  recursive: boolean;
  /** Create a missing source (as `-v` does; `--mount` only with bind-create-src). */
  createSource: boolean;
  origin: MountOrigin;
  mode: string;
}

/** A fresh tmpfs. */
export interface TmpfsRequest {
  kind: "tmpfs";
  target: string;
  readonly: boolean;
  /** Bytes (`tmpfs-size`), undefined for the kernel's default. */
  size?: number;
  /** Permission bits of the root (`tmpfs-mode`). */
  mode?: number;
  /** Mount options as `--tmpfs /p:OPTS` gives them ("size=64m", "exec", "uid=1000"…). */
  options: string[];
  origin: MountOrigin;
}

export type MountRequest = VolumeRequest | BindRequest | TmpfsRequest;

/** `--volumes-from CONTAINER[:ro|rw]`, resolved later against the container's record. */
export interface VolumesFromRequest {
  container: string;
  /** "rw" unless given. */
  mode: string;
  readonly: boolean;
}

/**
 * One entry of a container's `Mounts` (Docker's inspect shape). The engine stores the array
 * in the container record: it is what makes a volume "in use", what `--volumes-from` copies
 * and what `rm -v` looks at.
 */
export interface MountPoint {
  Type: "volume" | "bind" | "tmpfs";
  /** Volumes only. */
  Name?: string;
  /** The host path ("" for tmpfs). */
  Source: string;
  Destination: string;
  /** Volumes only: "local". */
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** tmpfs only, not shown by inspect: what `--volumes-from` needs to mount it again. */
  TmpfsOptions?: { SizeBytes?: number; Mode?: number; Options?: string[] };
}
