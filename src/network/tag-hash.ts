/**
 * A network's tag candidates: a hash of state root and network id, rehashed with a counter
 * when taken. Its own module, imported lazily, so node:crypto loads only when a network (or a
 * root's default bridge) is first set up, never on `run`'s usual path.
 */
import { createHash } from "node:crypto";

export function candidateTag(root: string, networkId: string, attempt: number): string {
  return createHash("sha256").update(`${root}\0${networkId}\0${attempt}`).digest("hex").slice(0, 8);
}
