/**
 * Failures of the container's first process, in Docker's words and with the kind that
 * gives Docker's exit status (127 not found, 126 not invokable, 125 anything else).
 */
import os from "node:os";
import { TsrunError } from "../common/index.js";

interface InitFailureLike {
  step: string;
  errno: number;
  path?: string;
  detail?: string;
  message: string;
}

function isInitFailure(e: unknown): e is InitFailureLike {
  return typeof e === "object" && e !== null && "step" in e && "errno" in e && typeof (e as InitFailureLike).errno === "number";
}

const { ENOENT, EACCES, EISDIR, ENOEXEC, EPERM, ENOTDIR, EINVAL } = os.constants.errno;

export function initErrorToTsrun(e: unknown, command: string): unknown {
  if (!isInitFailure(e)) return e;
  const prefix = "failed to create task for container: unable to start container process";
  if (e.step === "exec-lookup" || e.step === "exec") {
    const quoted = JSON.stringify(command);
    if (e.errno === ENOENT || e.errno === ENOTDIR) {
      const why = command.includes("/")
        ? `stat ${command}: no such file or directory`
        : "executable file not found in $PATH";
      return new TsrunError("exec-not-found", `${prefix}: exec: ${quoted}: ${why}`, { cause: e });
    }
    if (e.errno === EACCES || e.errno === EISDIR || e.errno === ENOEXEC || e.errno === EPERM) {
      const why = e.errno === ENOEXEC ? "exec format error" : "permission denied";
      return new TsrunError("exec-permission", `${prefix}: exec: ${quoted}: ${why}`, { cause: e });
    }
  }
  if (e.step === "mount_setattr" && e.errno === EINVAL && e.detail === "MOUNT_ATTR_IDMAP") {
    // Filesystems known not to idmap are bound unmapped (runtime/idmap-binds.ts): this is another one.
    const hint = "its filesystem does not support idmapped mounts; bind another path, or run with --userns=host";
    return new TsrunError("system", `${prefix}: ${e.message}: ${hint}`, { cause: e });
  }
  return new TsrunError("system", `${prefix}: ${e.message}`, { cause: e });
}
