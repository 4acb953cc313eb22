export * from "./ffi.js";
export * from "./flock.js";
