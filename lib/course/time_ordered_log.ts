/**
 * Log lines from several processes, printed in the order they happened.
 *
 * The worker processes of multiple_processes report each step with the time
 * it happened; their lines reach the parent through three separate pipes, so
 * a line can arrive a little after a later line of another worker. This log
 * holds each line for a moment ({@linkcode HOLD_MS}) and prints what it holds
 * sorted by time, each line stamped with its own time: the console reads in
 * time order.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 * import { TimeOrderedLog } from "./time_ordered_log.ts";
 *
 * const ordered = new TimeOrderedLog(new Logger());
 * ordered.add(2000, "INFO", "second");
 * ordered.add(1000, "INFO", "first");
 * ordered.flush(); // prints "first", then "second"
 * ```
 *
 * @module
 */
import { formatLogLine, type Logger, type LogLevel } from "../common/log.ts";

/** How long a line is held back for earlier lines still on their way. */
export const HOLD_MS = 300;

/** One line waiting to be printed. */
interface HeldLine {
  at: number;
  level: LogLevel;
  message: string;
}

/** Prints lines from several sources in time order, a moment late. */
export class TimeOrderedLog {
  readonly #log: Logger;
  #held: HeldLine[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Prints through `log` (its console and its `--output` file). */
  constructor(log: Logger) {
    this.#log = log;
  }

  /** Adds a line that happened at `at` (`Date.now()` milliseconds). */
  add(at: number, level: LogLevel, message: string): void {
    this.#held.push({ at, level, message });
    this.#timer ??= setInterval(() => this.#print(Date.now() - HOLD_MS), 50);
  }

  /** Prints every line held, in time order (at the end of a run). */
  flush(): void {
    this.#print(Infinity);
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Prints the held lines up to `until`, oldest first. */
  #print(until: number): void {
    this.#held.sort((a, b) => a.at - b.at);
    const due = this.#held.filter((line) => line.at <= until);
    this.#held = this.#held.filter((line) => line.at > until);
    for (const line of due) {
      this.#log.print(
        formatLogLine(
          "python",
          line.level,
          line.message,
          "",
          new Date(line.at),
        ),
      );
    }
  }
}
