export * from "./ffi.js";
export * from "./flock.js";
export * from "./xattr.js";
export * from "./mknod.js";
export * from "./dir-lock.js";
export * from "./process-identity.js";
export * from "./owner-lock.js";
export * from "./termios.js";
