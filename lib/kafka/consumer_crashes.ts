/**
 * Why a consumer crashed, and what to do about it: Kafka (or the way to it)
 * was away, so reconnect and tell the user once; or the caller's `handle`
 * failed, which is fatal.
 *
 * @example
 * ```ts
 * import { isConnectionLoss } from "./consumer_crashes.ts";
 *
 * isConnectionLoss(Object.assign(new Error("x"), { code: "PLT_KFK_NETWORK" })); // true
 * ```
 *
 * @module
 */
import { describeError } from "../common/cli.ts";

/** What a consumer group tells about a lost and regained broker. */
export interface OutageCallbacks {
  /** A consumer lost Kafka and reconnects on its own. */
  outage: (error: Error) => void;
  /** A consumer has joined the group (also after an outage). */
  joined: () => void;
}

/**
 * The `outage` and `joined` callbacks that tell a user about a lost broker in
 * two lines: one warning when it goes away (however many consumers notice),
 * one line when they are back.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 *
 * const log = new Logger({ style: "bracket", program: "reconstruct_data_files" });
 * const callbacks = outageReporter(log);
 * ```
 */
export function outageReporter(
  log: { warn(message: string): void; info(message: string): void },
): OutageCallbacks {
  let away = false;
  return {
    outage: (error) => {
      if (away) return;
      away = true;
      log.warn(
        `lost Kafka (${
          describeError(error)
        }); reconnecting until it is back (quit stops)`,
      );
    },
    joined: () => {
      if (!away) return;
      away = false;
      log.info("Kafka is back; going on");
    },
  };
}

/** Kafka's answers that mean "ask again, elsewhere or later". */
const RETRIABLE_ANSWERS = new Set([
  "COORDINATOR_NOT_AVAILABLE",
  "COORDINATOR_LOAD_IN_PROGRESS",
  "NOT_COORDINATOR",
  "LEADER_NOT_AVAILABLE",
  "NOT_LEADER_OR_FOLLOWER",
  "REQUEST_TIMED_OUT",
  "NETWORK_EXCEPTION",
  "BROKER_NOT_AVAILABLE",
]);

/**
 * Errors after which a consumer may reconnect: Kafka (or the way to it) was
 * away. Anything else, such as a failing `handle`, is fatal. Looks through
 * the errors @platformatic/kafka wraps (`cause`, `errors`).
 *
 * @example
 * ```ts
 * isConnectionLoss(new Error("boom")); // false
 * ```
 */
export function isConnectionLoss(error: unknown): boolean {
  const seen: unknown[] = [error];
  for (let i = 0; i < seen.length && i < 32; i++) {
    const cause = seen[i] as {
      code?: string;
      apiId?: string;
      canRetry?: boolean;
      cause?: unknown;
      errors?: unknown[];
      message?: string;
    } | null;
    if (!cause || typeof cause !== "object") continue;
    if (cause instanceof HandlerError) return false;
    if (
      cause.code === "PLT_KFK_NETWORK" || cause.code === "PLT_KFK_TIMEOUT" ||
      (cause.apiId !== undefined && RETRIABLE_ANSWERS.has(cause.apiId)) ||
      /ECONNREFUSED|ECONNRESET|EPIPE|Connection (error|closed)|socket/i.test(
        cause.message ?? "",
      )
    ) return true;
    if (cause.cause) seen.push(cause.cause);
    if (Array.isArray(cause.errors)) seen.push(...cause.errors);
  }
  return false;
}

/** An error thrown by the caller's `handle`, so it is never mistaken for a Kafka error. */
export class HandlerError extends Error {
  /** Wraps what `handle` threw; the message stays its message. */
  constructor(cause: unknown) {
    super((cause as Error)?.message ?? String(cause), { cause });
    this.name = "HandlerError";
  }
}
