import type { Engine } from "../engine/index.js";
import type { CommandKind } from "./exit.js";

/** What every command's action gets: the engine for the chosen root, made on first use. */
export interface CliContext {
  engine(): Promise<Engine>;
  /** Which exit-status rules apply to the running command. */
  kind: CommandKind;
}
