/**
 * The printed plumbing of the multiple_processes lesson: the start banner, the
 * run's title, the workers' exit codes, the row count at the end (success
 * text, missing pets and a hint) and the lock timeline, printed and saved. The SQL, the locking and
 * the remedies stay in the script.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 * import { reportPetRows, startBanner } from "./pets_report.ts";
 *
 * const log = new Logger();
 * log.info(startBanner());
 * const ace = { name: "Ace", breed: "Dog" };
 * reportPetRows(log, "none", [ace], [ace]); // true: every row is there
 * ```
 *
 * @module
 */
import type { Logger } from "../common/log.ts";
import { bannerDetails } from "./environment_report.ts";
import type { LockEvent, TimedPrinter } from "./lock_events.ts";
import { saveLockTimeline } from "./lock_timeline.ts";
import {
  findMissingPets,
  type Pet,
  type PetsSettings,
} from "./pets_settings.ts";

const DIVIDER = "=".repeat(70);
const SUCCESS_TEXT = `SUCCESS: All processes successfully completed!

Now - increase the task duration (representing
      the time the task has the database
      tied up during an insert statement).
How well do multiple, concurrent processes share a database
    when each task takes more time?
How can multiple processes share a resource
    without interfering with each other?`;

/**
 * The banner the parent logs first: dividers around "STARTING UP" and the
 * environment details.
 *
 * @example
 * ```ts
 * console.log(startBanner());
 * ```
 */
export function startBanner(): string {
  return ["", DIVIDER, "STARTING UP.......", ...bannerDetails(), DIVIDER]
    .join("\n");
}

/**
 * The run's title (no final full stop): processes, records, task duration
 * and remedy. Also the timeline's caption.
 *
 * @example
 * ```ts
 * runTitle({
 *   processes: 3, recordsPerProcess: 2, taskDurationSeconds: 0, remedy: "none",
 * }); // "3 processes x 2 records, task duration 0 s, remedy: none"
 * ```
 */
export function runTitle(
  settings: Pick<
    PetsSettings,
    "processes" | "recordsPerProcess" | "taskDurationSeconds" | "remedy"
  >,
): string {
  return `${settings.processes} processes x ${settings.recordsPerProcess}` +
    ` records, task duration ${settings.taskDurationSeconds} s, remedy: ${settings.remedy}`;
}

/**
 * Logs the start of a run: {@linkcode startBanner}, then the run's title
 * ({@linkcode runTitle}) with a full stop. Returns the title.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 *
 * const settings = {
 *   processes: 3, recordsPerProcess: 2, taskDurationSeconds: 3, remedy: "none" as const,
 * };
 * logStart(new Logger(), settings); // "3 processes x 2 records, ..."
 * ```
 */
export function logStart(
  log: Logger,
  settings: Parameters<typeof runTitle>[0],
): string {
  const title = runTitle(settings);
  log.info(startBanner());
  log.info(`${title}.`);
  return title;
}

/**
 * Logs how many expected pets are in `rows`; all of them: the success text
 * and `true`; else the missing names, a hint for `remedy` and `false`. After
 * Ctrl-C (`stoppedBy` names the signal) it names the rows saved so far.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 *
 * const ace = { name: "Ace", breed: "Dog" };
 * reportPetRows(new Logger(), "retry", [ace], []); // false: Ace is missing
 * ```
 */
export function reportPetRows(
  log: Logger,
  remedy: PetsSettings["remedy"],
  expected: Pet[],
  rows: Pet[],
  stoppedBy?: string,
): boolean {
  const missing = findMissingPets(expected, rows);
  const found = `${expected.length - missing.length} of ${expected.length}`;
  log.info(`Table 'pets' holds ${found} expected rows.`);
  if (stoppedBy) {
    const saved = rows.map((pet) => pet.name).join(", ") || "none";
    log.warn(`Stopped by ${stoppedBy}. Rows saved so far: ${saved}.`);
    return false;
  }
  if (missing.length === 0) {
    log.info(SUCCESS_TEXT);
    return true;
  }
  const names = missing.map((pet) => pet.name).join(", ");
  log.error(`Missing ${missing.length} rows: ${names}.`);
  const hint = remedy === "none"
    ? "Try --remedy short_transactions, wait_longer or retry."
    : `--remedy ${remedy} was not enough this time.`;
  log.warn(`NOT ALL ROWS WERE SAVED. ${hint}`);
  return false;
}

/**
 * Saves the lock timeline picture to `path`, prints the text chart and logs
 * where the picture went.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 *
 * const events = [
 *   { process: 1, kind: "lock" as const, pet: "Ace", at: 1000, level: "INFO" as const, message: "" },
 *   { process: 1, kind: "commit" as const, pet: "Ace", at: 4000, level: "INFO" as const, message: "" },
 * ];
 * await showLockTimeline(new Logger(), "out/lock_timeline.svg", events, "3 s");
 * ```
 */
export async function showLockTimeline(
  log: Logger,
  path: string,
  events: LockEvent[],
  title: string,
): Promise<void> {
  const chart = await saveLockTimeline(path, events, title);
  log.print(chart);
  log.info(`Lock timeline saved to ${path}.`);
}

/**
 * Waits for the worker processes in the order they started; one that failed
 * is printed as an error (after a stop, `stop` aborted, it is not). True when
 * every worker exited 0.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 * import { TimeOrderedLog } from "./time_ordered_log.ts";
 *
 * const printer = new TimeOrderedLog(new Logger());
 * const exits = [Promise.resolve(0), Promise.resolve(1)];
 * await awaitWorkers(exits, printer, new AbortController().signal);
 * // false, and "P2 failed (exit code 1)." printed
 * printer.flush();
 * ```
 */
export async function awaitWorkers(
  exits: Promise<number>[],
  printer: TimedPrinter,
  stop: AbortSignal,
): Promise<boolean> {
  let allOk = true;
  for (const [i, exit] of exits.entries()) {
    const code = await exit;
    allOk &&= code === 0;
    if (code === 0 || stop.aborted) continue;
    printer.add(Date.now(), "ERROR", `P${i + 1} failed (exit code ${code}).`);
  }
  return allOk;
}
