export { Engine, type EngineOptions, type ContainerView } from "./engine.js";
export type { RunOptions } from "./run-options.js";
export type { ContainerRecord } from "./record.js";
export { humanDuration, statusText, type ContainerStatus } from "./status.js";
