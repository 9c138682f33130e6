/**
 * Remedies for "database is locked", the fixes the course only asks about.
 *
 * - `short_transactions`: do the slow work first and hold the lock only for the
 *   INSERT itself (the script shows this in two lines).
 * - `wait_longer`: a busy timeout long enough for every other insert to take
 *   its turn ({@linkcode everyonesTurnMs}).
 * - `retry`: catch the busy error, back off for a random while, and try again
 *   until a deadline ({@linkcode retryWhileBusy}).
 *
 * @example
 * ```ts
 * import { everyonesTurnMs, retryWhileBusy } from "./remedies.ts";
 *
 * // 6 inserts of 3 s each: a writer never waits more than 18 s plus a margin.
 * everyonesTurnMs(6, 3000); // 23000
 * await retryWhileBusy(() => Promise.resolve("inserted"), {
 *   deadline: Date.now() + 23000,
 * });
 * ```
 *
 * @module
 */
import { isBusyError } from "./pets_db.ts";
import { sleep } from "../common/shutdown.ts";

/** The remedies `--remedy` accepts; `none` is the original's behaviour. */
export const REMEDIES = [
  "none",
  "short_transactions",
  "wait_longer",
  "retry",
] as const;

/** One of {@linkcode REMEDIES}. */
export type Remedy = (typeof REMEDIES)[number];

/** Time on top of everyone's work, for starting processes and scheduling. */
export const TURN_MARGIN_MS = 5000;

/**
 * The longest a writer can have to wait: every insert of every process, one
 * after another, plus {@linkcode TURN_MARGIN_MS}. Used as the `wait_longer`
 * busy timeout and as the `retry` deadline.
 *
 * @example
 * ```ts
 * everyonesTurnMs(3 * 2, 3000); // 23000
 * ```
 */
export function everyonesTurnMs(totalInserts: number, taskMs: number): number {
  return Math.ceil(totalInserts * taskMs) + TURN_MARGIN_MS;
}

/**
 * Exponential backoff with jitter: about `baseMs * 2^attempt`, capped at
 * `capMs`, and a random half of it added or not, so that processes that
 * collided once do not collide again at the same moment.
 *
 * @example
 * ```ts
 * backoffWithJitterMs(1); // between 50 and 100
 * backoffWithJitterMs(10); // between 500 and 1000
 * ```
 */
export function backoffWithJitterMs(
  attempt: number,
  baseMs = 50,
  capMs = 1000,
  random: () => number = Math.random,
): number {
  const ceilingMs = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.round(ceilingMs / 2 + random() * (ceilingMs / 2));
}

/** When {@linkcode retryWhileBusy} gives up, and whom it tells about retries. */
export interface RetryOptions {
  /** Give up (throw the busy error) after this time, in `Date.now()` terms. */
  deadline: number;
  /** Called before each wait, e.g. to log it. */
  onRetry?: (attempt: number, delayMs: number) => void;
}

/**
 * Runs `work`; while it fails with "database is locked", waits
 * {@linkcode backoffWithJitterMs} and runs it again, until `deadline`.
 * Any other error is thrown at once.
 *
 * @example
 * ```ts
 * await retryWhileBusy(() => insertOnce(), {
 *   deadline: Date.now() + 30_000,
 *   onRetry: (attempt, delayMs) => console.log(`retry ${attempt} in ${delayMs} ms`),
 * });
 * ```
 */
export async function retryWhileBusy<T>(
  work: () => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await work();
    } catch (error) {
      const delayMs = backoffWithJitterMs(attempt);
      const pastDeadline = Date.now() + delayMs > options.deadline;
      if (!isBusyError(error) || pastDeadline) throw error;
      options.onRetry?.(attempt, delayMs);
      await sleep(delayMs);
    }
  }
}
