/**
 * Images: references, the OCI-layout store, archives (load), layer unpacking.
 *
 * Only what reading the store needs is exported here: `run` imports this module, and the
 * unpacker (tar-stream, zlib, hashing) must stay out of its start-up — import
 * ./unpack.js or ./tar.js directly where they are needed.
 */
export { ImageStore, type RemoveOptions, type ResolveOptions } from "./store.js";
export { Image, type ImageSummary } from "./image.js";
export { formatRemoveRecord, type ImageUser, type RemoveRecord } from "./remove.js";
export type { LoadResult } from "./load.js";
export {
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  familiarName,
  familiarString,
  familiarize,
  formatReference,
  normalizeReference,
  parseReference,
  parseTagReference,
  repositoryName,
  withDefaultTag,
  type Reference,
} from "./reference.js";
export { hostPlatform } from "./platform.js";
export { ANNOTATION, MEDIA_TYPE } from "./oci-types.js";
export type { ContainerConfigFields, Descriptor, HealthConfig, HistoryEntry, ImageConfig, OciIndex, OciManifest, Platform } from "./oci-types.js";
