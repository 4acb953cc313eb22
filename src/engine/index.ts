export { Engine, type EngineOptions, type ContainerView, type Observed, type StopOptions, type RemoveOptions } from "./engine.js";
export type { RestartPolicy } from "./restart-policy.js";
export type { PruneReport, Pruner } from "./prune.js";
export type { RunOptions } from "./run-options.js";
export type { ContainerRecord } from "./record.js";
export { humanDuration, statusText, type ContainerStatus } from "./status.js";
