/** `top CONTAINER [ps OPTIONS]`: the container's processes, in docker/cli's table. */
import type { Command } from "commander";
import { isTsrunError } from "../../common/errors.js";
import { ExitStatus } from "../exit.js";
import type { CliContext } from "../context.js";

export function registerTop(program: Command, ctx: CliContext): void {
  program
    .command("top")
    .description("Display the running processes of a container")
    .usage("CONTAINER [ps OPTIONS]")
    .argument("<container>")
    .argument("[psOptions...]")
    .allowUnknownOption()
    .passThroughOptions()
    .action(async (ref: string, psOptions: string[]) => {
      const engine = await ctx.engine();
      const { containerTop } = await import("../../engine/top.js");
      let top;
      try {
        top = await containerTop(engine, ref, psOptions);
      } catch (e) {
        if (isTsrunError(e) && e.kind !== "system") throw new ExitStatus(1, `Error response from daemon: ${e.message}`);
        throw e;
      }
      const { tabwrite } = await import("../go-template/docker-format.js");
      const lines = [top.Titles, ...top.Processes].map((cells) => cells.join("\t") + "\n").join("");
      process.stdout.write(tabwrite(lines, { minWidth: 20, padding: 3 }));
    });
}
