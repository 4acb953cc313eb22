import { logger } from "../common/log.js";

/** mount(2) flags, as in <sys/mount.h>. */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  I_VERSION: 1 << 23,
  STRICTATIME: 1 << 24,
  LAZYTIME: 1 << 25,
} as const;

/** Each option sets (or with `clear`, clears) flags; the last mention of a flag wins. */
const FLAG_OPTIONS: Record<string, { flag: number; clear?: boolean }> = {
  async: { flag: MS.SYNCHRONOUS, clear: true },
  atime: { flag: MS.NOATIME, clear: true },
  bind: { flag: MS.BIND },
  defaults: { flag: 0 },
  dev: { flag: MS.NODEV, clear: true },
  diratime: { flag: MS.NODIRATIME, clear: true },
  dirsync: { flag: MS.DIRSYNC },
  exec: { flag: MS.NOEXEC, clear: true },
  iversion: { flag: MS.I_VERSION },
  lazytime: { flag: MS.LAZYTIME },
  loud: { flag: MS.SILENT, clear: true },
  mand: { flag: MS.MANDLOCK },
  noatime: { flag: MS.NOATIME },
  nodev: { flag: MS.NODEV },
  nodiratime: { flag: MS.NODIRATIME },
  noexec: { flag: MS.NOEXEC },
  noiversion: { flag: MS.I_VERSION, clear: true },
  nolazytime: { flag: MS.LAZYTIME, clear: true },
  nomand: { flag: MS.MANDLOCK, clear: true },
  norelatime: { flag: MS.RELATIME, clear: true },
  nostrictatime: { flag: MS.STRICTATIME, clear: true },
  nosuid: { flag: MS.NOSUID },
  rbind: { flag: MS.BIND | MS.REC },
  relatime: { flag: MS.RELATIME },
  remount: { flag: MS.REMOUNT },
  ro: { flag: MS.RDONLY },
  rw: { flag: MS.RDONLY, clear: true },
  silent: { flag: MS.SILENT },
  strictatime: { flag: MS.STRICTATIME },
  suid: { flag: MS.NOSUID, clear: true },
  sync: { flag: MS.SYNCHRONOUS },
};

export const PROPAGATION_OPTIONS: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

export interface MountOptions {
  /** MS_* flags, MS_BIND (and MS_REC for rbind) included. */
  flags: number;
  /** The last propagation option given (MS_PRIVATE… with MS_REC for the r-forms), or 0. */
  propagation: number;
  /** Everything else, for the filesystem ("mode=755,size=65536k"). */
  data: string;
  /** "bind" or "rbind" was given. */
  bind: boolean;
  /** "idmap" or "ridmap" was given ("ridmap" also sets MS_REC). */
  idmap: boolean;
}

const log = logger("runtime");

/**
 * An OCI mount's options, read as runc reads them: flag words set or clear MS_* flags,
 * propagation words choose the propagation, idmap/ridmap ask for an idmapped bind,
 * tmpcopyup is not supported and dropped, and anything else is filesystem data.
 */
export function parseMountOptions(options: readonly string[] = []): MountOptions {
  let flags = 0;
  let propagation = 0;
  let idmap = false;
  const data: string[] = [];
  for (const option of options) {
    const f = FLAG_OPTIONS[option];
    if (f) {
      flags = f.clear ? flags & ~f.flag : flags | f.flag;
    } else if (option in PROPAGATION_OPTIONS) {
      propagation = PROPAGATION_OPTIONS[option]!;
    } else if (option === "idmap" || option === "ridmap") {
      idmap = true;
      if (option === "ridmap") flags |= MS.REC;
    } else if (option === "tmpcopyup") {
      log(`ignoring mount option "tmpcopyup": not supported`);
    } else if (option !== "") {
      data.push(option);
    }
  }
  return { flags, propagation, data: data.join(","), bind: (flags & MS.BIND) !== 0, idmap };
}
