export * from "./errors.js";
export * from "./log.js";
export * from "./paths.js";
export * from "./ids.js";
export * from "./fsutil.js";
export * from "./random.js";
