/**
 * `cp`: copying files between a container and the host with Docker's semantics (copy.ts),
 * through the tsrun-cp helper in the container's own view (view.ts, helper.ts).
 */
export { copyFromContainer, copyToContainer, ContainerSideError, type CopyOptions, type CopyFromResult, type CopyToResult, type PathStat } from "./copy.js";
export { splitCpArg } from "./paths.js";
export { sweepStandIns } from "./view.js";
