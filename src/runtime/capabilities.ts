import { invalidArgument } from "../common/errors.js";

/** Capability numbers from <linux/capability.h>, by the names OCI specs use. */
const CAPABILITY_NUMBERS: Record<string, number> = Object.fromEntries(
  [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
  ].map((name, bit) => [`CAP_${name}`, bit]),
);

/** The bit number of a capability name ("CAP_CHOWN" → 0); an unknown name is an error naming it. */
export function capabilityNumber(name: string): number {
  const n = CAPABILITY_NUMBERS[name];
  if (n === undefined) throw invalidArgument(`Unknown capability "${name}"`);
  return n;
}

/** A capability set as the bit mask capset(2) takes. */
export function capabilityMask(names: readonly string[] = []): bigint {
  let mask = 0n;
  for (const name of names) mask |= 1n << BigInt(capabilityNumber(name));
  return mask;
}

export const capabilityNames = (): string[] => Object.keys(CAPABILITY_NUMBERS);
