/**
 * Volumes and mounts: the local volume store, the mount flags of run/create (`--mount`,
 * `-v`, `--tmpfs`, `--volumes-from`), copy-up from the image, and the OCI mounts and record
 * entries they become. The engine's calls, in order, for a container:
 *
 *   create:  parseMountFlags → resolveMounts → prepareMounts → toOciMounts (+ mergeMounts
 *            into the spec) and toMountPoints (the record's Mounts) → write record → release
 *   rm -v, --rm:  after the record is gone, removeAnonymousVolumes
 */
export { VolumeStore, type Volume, type VolumeMetadata, type VolumeRefs, type CreateVolumeOptions } from "./store.js";
export type { MountPoint, MountRequest, VolumeRequest, BindRequest, TmpfsRequest, VolumesFromRequest } from "./types.js";
export { ANONYMOUS_LABEL, validateVolumeName } from "./names.js";
export { recordVolumeRefs, volumeNamesOf } from "./refs.js";
export { parseMountFlags, resolveMounts, type MountFlags, type ParsedMounts } from "./mount-plan.js";
export type { MountSpec } from "./mount-flag.js";
export { prepareMounts, removeAnonymousVolumes, ensureBindSource, type PreparedMounts, type PrepareOptions } from "./prepare.js";
export { toOciMounts, mergeMounts, toMountPoints, inspectMounts, type OciMountContext } from "./oci-mounts.js";
export { copyImageContent, type CopyUpResult } from "./copy-up.js";
export { pruneVolumes, volumesDiskUsage, directorySize, type PruneReport, type VolumesDiskUsage } from "./usage.js";
export { parseFilterFlags, listPredicate, type Filters } from "./filters.js";
