/** Docker's rename: the new name claimed, recorded, the old one released, under the container's lock. */
import { TsrunError } from "../common/index.js";
import { withContainerLock } from "./container-lock.js";
import type { Engine } from "./engine.js";
import { validateName } from "./names.js";
import { renameEndpoints } from "./network-wiring.js";
import { writeRecord } from "./record.js";
import { checkRename } from "./transitions.js";

export async function renameContainer(engine: Engine, ref: string, newName: string): Promise<void> {
  checkRename(ref, newName);
  const id = engine.resolve(ref.trim()).Id;
  const name = validateName(newName.trim());
  await withContainerLock(engine.root, id, ref, async () => {
    const rec = engine.reread(id, ref);
    checkRename(ref, newName, rec.Name);
    const old = rec.Name.replace(/^\//, "");
    try {
      await engine.names.rename(old, name, id, () => {
        rec.Name = "/" + name;
        writeRecord(engine.root, rec);
      });
      await renameEndpoints(engine, id, name);
    } catch (e) {
      if (e instanceof TsrunError && e.kind === "conflict") {
        throw new TsrunError("conflict", `Error when allocating new name: ${e.message}`, { cause: e });
      }
      throw e;
    }
  });
}
