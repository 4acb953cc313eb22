/**
 * The plan's binary form, read by native/src/plan.c without a JSON parser. Layout and record
 * types: native/protocol.def (generated into ./protocol.gen.ts):
 *
 *   u32 magic "TSRP", u32 PLAN_FORMAT, then records {u32 type, u32 length, payload},
 *   a payload being NUL-terminated string fields; numbers in decimal, booleans "0"/"1";
 *   last an END record with the number of records before it.
 *
 * Everything is little-endian. A string holding a NUL byte cannot be encoded and is refused.
 */
import { invalidArgument } from "../common/errors.js";
import type { Plan } from "./plan.js";
import { PLAN_FORMAT, PLAN_MAGIC, Rec, RecArity } from "./protocol.gen.js";

type Field = string | number | bigint | boolean;

const RESTART_POLICIES: readonly string[] = ["on-failure", "always", "unless-stopped"];

export interface PlanRecord {
  type: number;
  fields: string[];
}

function fieldText(name: string, v: Field): string {
  if (typeof v === "boolean") return v ? "1" : "0";
  if (typeof v === "bigint") {
    if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw invalidArgument(`Plan field "${name}" is out of range: ${v}`);
    return v.toString(10);
  }
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw invalidArgument(`Plan field "${name}" is not an integer: ${v}`);
    return v.toString(10);
  }
  if (v.includes("\0")) throw invalidArgument(`Plan field "${name}" contains a NUL byte: ${JSON.stringify(v)}`);
  return v;
}

function unsigned(name: string, v: number, max = 0xffff_ffff): number {
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw invalidArgument(`Plan field "${name}" is out of range: ${v}`);
  return v;
}

/** The records of a plan, in the order the file holds them (END excluded). */
export function planRecords(plan: Plan): PlanRecord[] {
  const out: PlanRecord[] = [];
  const add = (type: number, name: string, ...fields: Field[]) =>
    out.push({ type, fields: fields.map((f) => fieldText(name, f)) });
  const p = plan.process;
  const m = plan.monitor;

  add(Rec.CONTAINER_ID, "containerId", plan.containerId);
  for (const kind of plan.newNamespaces) add(Rec.NS_NEW, "newNamespaces", kind);
  for (const j of plan.joinNamespaces) add(Rec.NS_JOIN, "joinNamespaces", j.kind, j.path);
  for (const l of plan.uidMap)
    add(Rec.UID_MAP, "uidMap", unsigned("uidMap.inside", l.inside), unsigned("uidMap.outside", l.outside), unsigned("uidMap.count", l.count));
  for (const l of plan.gidMap)
    add(Rec.GID_MAP, "gidMap", unsigned("gidMap.inside", l.inside), unsigned("gidMap.outside", l.outside), unsigned("gidMap.count", l.count));
  for (const f of plan.cgroupProcs) add(Rec.CGROUP_PROCS, "cgroupProcs", f);
  const r = plan.rootfs;
  if (r.kind === "overlay") {
    if (r.lowers.length === 0) throw invalidArgument("Plan rootfs has no lower layer");
    add(Rec.ROOTFS_OVERLAY, "rootfs", r.upperParent, r.idmap, r.readonly);
    for (const l of r.lowers) add(Rec.ROOTFS_LOWER, "rootfs.lowers", l);
  } else {
    add(Rec.ROOTFS_DIR, "rootfs", r.path, r.readonly);
  }
  if (plan.rootPropagation) add(Rec.ROOT_PROPAGATION, "rootPropagation", unsigned("rootPropagation", plan.rootPropagation));
  for (const mt of plan.mounts) {
    if (!mt.target.startsWith("/")) throw invalidArgument(`Mount target "${mt.target}" is not absolute`);
    add(Rec.MOUNT, "mounts", mt.kind, mt.source, mt.target, mt.fstype, unsigned("mount.flags", mt.flags),
      unsigned("mount.propagation", mt.propagation), mt.data, mt.idmap, mt.sourceNs ?? "");
  }
  for (const d of plan.devices) add(Rec.DEVICE, "devices", d.hostPath, d.target);
  for (const s of plan.symlinks) add(Rec.SYMLINK, "symlinks", s.target, s.linkPath);
  for (const x of plan.maskedPaths) add(Rec.MASKED, "maskedPaths", x);
  for (const x of plan.readonlyPaths) add(Rec.READONLY, "readonlyPaths", x);
  if (plan.hostname !== undefined) add(Rec.HOSTNAME, "hostname", plan.hostname);
  if (plan.domainname !== undefined) add(Rec.DOMAINNAME, "domainname", plan.domainname);
  for (const s of plan.sysctls) add(Rec.SYSCTL, "sysctls", s.key, s.value);

  if (p.args.length === 0) throw invalidArgument("Plan process has no args");
  add(Rec.ARGS, "process.args", ...p.args);
  add(Rec.ENV, "process.env", ...p.env);
  add(Rec.CWD, "process.cwd", p.cwd);
  add(Rec.USER, "process.user", unsigned("process.uid", p.uid), unsigned("process.gid", p.gid));
  add(Rec.ADDITIONAL_GIDS, "process.additionalGids", ...p.additionalGids.map((g) => unsigned("process.additionalGids", g)));
  if (p.terminal)
    add(Rec.TERMINAL, "process.consoleSize", unsigned("consoleSize.rows", p.consoleSize?.rows ?? 0, 65535),
      unsigned("consoleSize.cols", p.consoleSize?.cols ?? 0, 65535));
  const c = p.capabilities;
  add(Rec.CAPS, "process.capabilities", c.bounding, c.effective, c.permitted, c.inheritable, c.ambient);
  if (p.noNewPrivileges) add(Rec.NO_NEW_PRIVS, "process.noNewPrivileges");
  for (const l of p.rlimits) add(Rec.RLIMIT, "process.rlimits", unsigned("rlimit.resource", l.resource), l.soft, l.hard);
  if (p.oomScoreAdj !== undefined) add(Rec.OOM_SCORE_ADJ, "process.oomScoreAdj", p.oomScoreAdj);
  if (p.umask !== undefined) add(Rec.UMASK, "process.umask", unsigned("process.umask", p.umask, 0o777));

  add(Rec.STATE_DIR, "monitor.stateDir", m.stateDir);
  if (m.stdin) add(Rec.STDIN, "monitor.stdin");
  if (m.logPath !== undefined) add(Rec.LOG_PATH, "monitor.logPath", m.logPath);
  if (m.exitCommand !== undefined && m.exitCommand.length > 0) add(Rec.EXIT_COMMAND, "monitor.exitCommand", ...m.exitCommand);
  for (const f of m.ownCgroupProcs) add(Rec.OWN_CGROUP_PROCS, "monitor.ownCgroupProcs", f);
  if (m.oomEventsFile !== undefined) add(Rec.OOM_EVENTS_FILE, "monitor.oomEventsFile", m.oomEventsFile);
  if (m.restart !== undefined) {
    const r = m.restart;
    if (!RESTART_POLICIES.includes(r.policy)) throw invalidArgument(`Plan field "monitor.restart.policy" is not a restart policy: ${JSON.stringify(r.policy)}`);
    if (r.command.length === 0 || r.command[0] === "") throw invalidArgument('Plan field "monitor.restart.command" is empty');
    add(Rec.RESTART, "monitor.restart", r.policy, unsigned("restart.maxRetries", r.maxRetries), unsigned("restart.retryCount", r.retryCount),
      unsigned("restart.delayMs", r.delayMs, Number.MAX_SAFE_INTEGER), ...r.command);
  }
  return out;
}

/** Serialises records (an END record is appended). Exposed for tests of malformed plans. */
export function encodeRecords(records: PlanRecord[]): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(8);
  header.writeUInt32LE(PLAN_MAGIC, 0);
  header.writeUInt32LE(PLAN_FORMAT, 4);
  parts.push(header);
  const all = [...records, { type: Rec.END, fields: [String(records.length)] }];
  for (const rec of all) {
    const payload = Buffer.concat(rec.fields.map((f) => Buffer.from(f + "\0", "utf8")));
    const h = Buffer.alloc(8);
    h.writeUInt32LE(rec.type, 0);
    h.writeUInt32LE(payload.length, 4);
    parts.push(h, payload);
  }
  return Buffer.concat(parts);
}

export function encodePlan(plan: Plan): Buffer {
  return encodeRecords(planRecords(plan));
}

/**
 * Reads a plan file back into records, with the C parser's checks (for tests and for
 * inspecting a state directory). Throws on any malformed input.
 */
export function decodeRecords(buf: Buffer): PlanRecord[] {
  if (buf.length < 8) throw invalidArgument("Plan is too short");
  if (buf.readUInt32LE(0) !== PLAN_MAGIC) throw invalidArgument("Plan has a bad magic number");
  if (buf.readUInt32LE(4) !== PLAN_FORMAT) throw invalidArgument(`Plan format version ${buf.readUInt32LE(4)} is unsupported`);
  const out: PlanRecord[] = [];
  let off = 8;
  while (off < buf.length) {
    if (buf.length - off < 8) throw invalidArgument(`Record header is truncated at offset ${off}`);
    const type = buf.readUInt32LE(off);
    const len = buf.readUInt32LE(off + 4);
    off += 8;
    if (len > buf.length - off) throw invalidArgument(`Record length runs past the end of the plan at offset ${off}`);
    const arity = RecArity[type];
    if (!arity) throw invalidArgument(`Unknown record type ${type}`);
    const payload = buf.subarray(off, off + len);
    off += len;
    if (len > 0 && payload[len - 1] !== 0) throw invalidArgument(`Record ${type} has a field without its NUL`);
    const fields = len === 0 ? [] : payload.subarray(0, len - 1).toString("utf8").split("\0");
    if (fields.length < arity[0] || (arity[1] >= 0 && fields.length > arity[1]))
      throw invalidArgument(`Record ${type} has the wrong number of fields (${fields.length})`);
    if (type === Rec.END) {
      if (Number(fields[0]) !== out.length) throw invalidArgument("END record count does not match");
      if (off !== buf.length) throw invalidArgument(`Data after the END record at offset ${off}`);
      return out;
    }
    out.push({ type, fields });
  }
  throw invalidArgument("Plan has no END record (truncated)");
}
