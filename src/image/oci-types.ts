/**
 * The OCI image-spec documents tsrun reads and writes, with the Docker config fields that
 * Docker images carry (Healthcheck, OnBuild, Shell…). Field names are the specs' own, so
 * documents written by Docker, podman or containerd parse as they are.
 */

export const MEDIA_TYPE = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

/** Annotations on index.json entries. */
export const ANNOTATION = {
  /** The full reference: docker.io/library/busybox:latest (containerd's convention). */
  imageName: "io.containerd.image.name",
  /** The tag alone (OCI image-layout convention). */
  refName: "org.opencontainers.image.ref.name",
  created: "org.opencontainers.image.created",
  /** tsrun's own: the image id (config digest), so listing needs no manifest read. */
  imageId: "io.tsrun.image.id",
  /** tsrun's own: the content size of the unpacked layers, in bytes (Docker's SIZE). */
  imageSize: "io.tsrun.image.size",
} as const;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The "config" object of an image config (what a container inherits). */
export interface ContainerConfigFields {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[];
  ArgsEscaped?: boolean;
  [key: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** The image config blob; its digest is the image id. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: ContainerConfigFields;
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: HistoryEntry[];
  [key: string]: unknown;
}
