export { Cgroup, type CgroupDir } from "./cgroup.js";
export { CgroupV1 } from "./v1.js";
export { CgroupV2 } from "./v2.js";
export { CgroupDriver, openCgroupDriver, type CgroupPlacement, type PlacedHierarchy } from "./driver.js";
export { realCgroupFs, CgroupWriteError, type CgroupFs } from "./cgroupfs.js";
export { parseCgroupMounts, layoutFromMountinfo, hierarchyOf, type Hierarchy, type CgroupLayout } from "./hierarchy.js";
export { resolveCgroupPath, monitorCgroupPath, isTsrunOwned, TSRUN_CGROUP_PARENT } from "./cgroup-path.js";
export { v1ResourceWrites, v2ResourceWrites, sharesToWeight, type ResourceWrite } from "./resources.js";
export { FakeCgroupTree } from "./fake-tree.js";
