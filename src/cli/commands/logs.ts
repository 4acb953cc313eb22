/** `logs`: a container's stored output, stdout to stdout and stderr to stderr. */
import type { Command } from "commander";
import { isTsrunError } from "../../common/errors.js";
import { ExitStatus } from "../exit.js";
import type { CliContext } from "../context.js";

interface LogsFlags {
  follow?: boolean;
  tail?: string;
  timestamps?: boolean;
  since?: string;
  until?: string;
  details?: boolean;
}

export function registerLogs(program: Command, ctx: CliContext): void {
  program
    .command("logs")
    .description("Fetch the logs of a container")
    .usage("[OPTIONS] CONTAINER")
    .argument("<container>")
    .option("--details", "Show extra details provided to logs")
    .option("-f, --follow", "Follow log output")
    .option("--since <string>", 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)')
    .option("-n, --tail <string>", 'Number of lines to show from the end of the logs (default "all")')
    .option("-t, --timestamps", "Show timestamps")
    .option("--until <string>", 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)')
    .action(async (ref: string, f: LogsFlags) => {
      const { parseLogTime, rfc3339NanoFixed } = await import("../../engine/log-time.js");
      const { streamLogs } = await import("../../engine/logs.js");
      // The client turns both times into absolute ones first (docker/cli does), so a bad
      // value fails before anything is read.
      const now = Date.now();
      const since = f.since !== undefined && f.since !== "" ? parseLogTime(f.since, "since", now) : undefined;
      const until = f.until !== undefined && f.until !== "" ? parseLogTime(f.until, "until", now) : undefined;
      // Docker's daemon reads a tail it cannot parse (or a negative one) as "all".
      const n = f.tail === undefined || f.tail === "all" ? NaN : Number(f.tail);
      const tail = Number.isInteger(n) && n >= 0 ? n : undefined;
      const engine = await ctx.engine();
      try {
        await streamLogs(
          engine,
          ref,
          { follow: !!f.follow, ...(tail !== undefined ? { tail } : {}), ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) },
          (e) => {
            const out = e.stream === "stderr" ? process.stderr : process.stdout;
            const text = f.timestamps ? `${rfc3339NanoFixed(e.time)} ${e.log}` : e.log;
            if (!out.write(text)) return new Promise<void>((resolve) => out.once("drain", resolve));
          },
        );
      } catch (e) {
        if (isTsrunError(e, "not-found") || isTsrunError(e, "state")) throw new ExitStatus(1, `Error response from daemon: ${e.message}`);
        throw e;
      }
    });
}
