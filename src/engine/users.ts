/**
 * `-u`/USER resolution as Docker does it (moby/sys/user): names are looked up in the
 * image's /etc/passwd and /etc/group, numeric ids need no entry.
 */
import { invalidArgument } from "../common/index.js";

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

const isNumeric = (s: string) => /^[0-9]+$/.test(s);
const MAX_ID = 2 ** 32 - 2;

export function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 7 || !isNumeric(f[2]!) || !isNumeric(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! });
  }
  return out;
}

export function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 4 || !isNumeric(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(",").filter(Boolean) });
  }
  return out;
}

function parseId(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_ID) throw invalidArgument(`${what} ${s} is out of range`);
  return n;
}

/**
 * Resolves "user", "uid", "user:group", "uid:gid" (any mix). An empty spec means root.
 * Without a group, the user's primary gid and its supplementary groups apply; with one,
 * the supplementary groups are dropped (as Docker does).
 */
export function resolveUser(spec: string, passwdText: string | undefined, groupText: string | undefined): ResolvedUser {
  const [userPart = "", groupPart, ...rest] = spec === "" ? ["0"] : spec.split(":");
  if (userPart === "" || rest.length > 0 || groupPart === "") {
    throw invalidArgument(`invalid user format: "${spec}"`);
  }
  const passwd = parsePasswd(passwdText);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (isNumeric(userPart)) {
    uid = parseId(userPart, "uid");
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw invalidArgument(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = entry.uid;
  }
  const groups = parseGroup(groupText);
  let gid = entry?.gid ?? 0;
  let additionalGids: number[] = [];
  // As containerd (and so Docker) does: the primary group leads the supplementary list.
  if (groupPart !== undefined) {
    if (isNumeric(groupPart)) gid = parseId(groupPart, "gid");
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw invalidArgument(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
    additionalGids = [gid];
  } else {
    const name = entry?.name;
    additionalGids = [...new Set([gid, ...groups.filter((g) => name !== undefined && g.members.includes(name)).map((g) => g.gid)])];
  }
  return { uid, gid, additionalGids, home: entry?.home || "/" };
}
