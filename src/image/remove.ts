/**
 * What `docker rmi` does to the table of names, decided as Docker's daemon decides it
 * (moby daemon/images/image_delete.go):
 *
 * - by name: the name goes. If it was the image's only name and a container uses the
 *   image, that needs force (else the image would be left dangling under a container).
 *   When the last name goes, the image is deleted too, unless a conflict remains.
 * - by id: with one name, that name goes first (after the conflict check); with several,
 *   force is needed ("referenced in multiple repositories"), then all go.
 * - conflicts: a running container is a hard one (even force does not delete); a stopped
 *   container or remaining names are soft ones (force overrides).
 *
 * Pure apart from mutating the catalog it is given; the store writes the result.
 */
import { conflict, shortId } from "../common/index.js";
import type { Catalog, ImageRecord } from "./catalog.js";
import { familiarize, formatReference, parseReference, repositoryName, withDefaultTag } from "./reference.js";

/** A container that uses an image. */
export interface ImageUser {
  id: string;
  running: boolean;
}

/** One line of `rmi` output: `Untagged: busybox:latest` or `Deleted: sha256:…`. */
export type RemoveRecord = { untagged: string } | { deleted: string };

export function formatRemoveRecord(r: RemoveRecord): string {
  return "untagged" in r ? `Untagged: ${r.untagged}` : `Deleted: ${r.deleted}`;
}

interface Conflict {
  hard: boolean;
  /** The conflict is a container using the image (not just remaining names). */
  used: boolean;
  message: string;
}

function conflictError(rec: ImageRecord, c: Conflict): Error {
  const forceMsg = c.hard ? "cannot be forced" : "must be forced";
  return conflict(`conflict: unable to delete ${shortId(rec.id)} (${forceMsg}) - ${c.message}`);
}

function findConflict(rec: ImageRecord, users: ImageUser[], soft: { names: boolean; stopped: boolean }): Conflict | undefined {
  const running = users.find((u) => u.running);
  if (running) return { hard: true, used: true, message: `image is being used by running container ${shortId(running.id)}` };
  if (soft.names && rec.names.length > 0) return { hard: false, used: false, message: "image is referenced in multiple repositories" };
  const stopped = users.find((u) => !u.running);
  if (soft.stopped && stopped) return { hard: false, used: true, message: `image is being used by stopped container ${shortId(stopped.id)}` };
  return undefined;
}

/** Docker's isImageIDPrefix: the argument names the image by (a prefix of) its id. */
function isIdPrefix(id: string, arg: string): boolean {
  return id.startsWith(arg) || id.slice("sha256:".length).startsWith(arg);
}

export interface RemovalPlan {
  records: RemoveRecord[];
  /** Images deleted from the catalog (their blobs and layers are garbage now). */
  deletedIds: string[];
}

export function planRemoval(
  catalog: Catalog,
  rec: ImageRecord,
  arg: string,
  opts: { force: boolean; users: ImageUser[] },
): RemovalPlan {
  const records: RemoveRecord[] = [];
  const untag = (name: string) => {
    catalog.removeName(name);
    records.push({ untagged: familiarize(name) });
  };
  let quiet = false;

  if (!isIdPrefix(rec.id, arg)) {
    const user = opts.users[0];
    if (!opts.force && rec.names.length === 1 && user) {
      throw conflict(
        `conflict: unable to remove repository reference ${JSON.stringify(arg)} (must force) - container ${shortId(user.id)} is using its referenced image ${shortId(rec.id)}`,
      );
    }
    const ref = withDefaultTag(parseReference(arg));
    const name = formatReference(ref);
    // A digest reference (repo@sha256:…) names no tag: it takes the repository's tags.
    const repo = repositoryName(ref);
    const names = rec.names.includes(name) ? [name] : rec.names.filter((n) => repositoryName(parseReference(n)) === repo);
    for (const n of names) untag(n);
    if (rec.names.length > 0) return { records, deletedIds: [] };
    quiet = true;
  } else if (rec.names.length === 1) {
    const c = findConflict(rec, opts.users, { names: false, stopped: !opts.force });
    if (c) throw conflictError(rec, c);
    untag(rec.names[0]!);
  }

  const c = findConflict(rec, opts.users, { names: !opts.force, stopped: !opts.force });
  if (c) {
    // After removing the last name: an image still in use stays, dangling, without an error.
    if (quiet && (rec.names.length > 0 || c.used)) return { records, deletedIds: [] };
    throw conflictError(rec, c);
  }
  for (const name of [...rec.names]) untag(name);
  catalog.delete(rec.id);
  records.push({ deleted: rec.id });
  return { records, deletedIds: [rec.id] };
}
