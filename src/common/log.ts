/**
 * Named loggers switched on with DEBUG, like the `debug` package: DEBUG=tsrun:* or
 * DEBUG=tsrun:runtime,tsrun:image. Lines go to stderr, tagged with the logger's name and,
 * where given, a container's short id.
 */
const patterns = (process.env.DEBUG ?? "")
  .split(/[\s,]+/)
  .filter(Boolean)
  .map((p) => new RegExp("^" + p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*") + "$"));

export interface Logger {
  readonly enabled: boolean;
  (message: string, ...args: unknown[]): void;
  /** The same logger, each line tagged with a container's short id. */
  withId(id: string): Logger;
}

export function logger(name: string, tag?: string): Logger {
  const full = `tsrun:${name}`;
  const enabled = patterns.some((p) => p.test(full));
  const prefix = tag ? `${full} [${tag.slice(0, 12)}]` : full;
  const log = ((message: string, ...args: unknown[]) => {
    if (!enabled) return;
    const rest = args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ");
    // The time since the process started makes every log line a trace point for profiling.
    const uptime = performance.now().toFixed(1).padStart(7);
    process.stderr.write(`${new Date().toISOString()} +${uptime}ms ${prefix} ${message}${rest ? " " + rest : ""}\n`);
  }) as Logger;
  Object.defineProperty(log, "enabled", { value: enabled });
  log.withId = (id: string) => logger(name, id);
  return log;
}
