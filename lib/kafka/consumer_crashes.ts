/**
 * Why a consumer crashed, and what to do about it: Kafka (or the way to it)
 * was away, so reconnect and tell the user once; kafkajs tripped over its own
 * state in a rebalance, so replace the consumer; or the caller's `handle`
 * failed, which is fatal.
 *
 * @example
 * ```ts
 * import { isConnectionLoss } from "./consumer_crashes.ts";
 *
 * isConnectionLoss(Object.assign(new Error("x"), { name: "KafkaJSConnectionError" })); // true
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

/**
 * Errors after which a consumer may reconnect: Kafka (or the way to it) was
 * away. Anything else, such as a failing `handle`, is fatal.
 *
 * @example
 * ```ts
 * isConnectionLoss(new Error("boom")); // false
 * ```
 */
export function isConnectionLoss(error: unknown): boolean {
  let cause: unknown = error;
  for (let depth = 0; cause && depth < 6; depth++) {
    const { name } = cause as { name?: string };
    if (
      name === "KafkaJSConnectionError" ||
      name === "KafkaJSConnectionClosedError" ||
      name === "KafkaJSRequestTimeoutError" ||
      name === "KafkaJSBrokerNotFound" ||
      name === "KafkaJSGroupCoordinatorNotFound" ||
      name === "KafkaJSMetadataNotLoaded" ||
      name === "KafkaJSNoBrokerAvailableError" ||
      (name === "KafkaJSProtocolError" &&
        (cause as { retriable?: boolean }).retriable === true)
    ) return true;
    const next = cause as { cause?: unknown; originalError?: unknown };
    cause = next.originalError ?? next.cause;
  }
  return /ECONNREFUSED|ECONNRESET|Connection error|No broker available|group coordinator/i
    .test(String((error as Error)?.message ?? error));
}

/** An error thrown by the caller's `handle`, so it is never mistaken for kafkajs'. */
export class HandlerError extends Error {
  /** Wraps what `handle` threw; the message stays its message. */
  constructor(cause: unknown) {
    super((cause as Error)?.message ?? String(cause), { cause });
    this.name = "HandlerError";
  }
}

/**
 * Whether a crash is kafkajs tripping over its own state: a fetch that was
 * under way when the consumer rejoined the group reads the new assignment's
 * offsets with the old one's partitions and throws "Cannot read properties of
 * undefined (reading '4')" (4 being a partition), which kafkajs treats as
 * fatal. It happens when Kafka drops the members of a run killed with
 * `kill -9` and rebalances: a restarted run sat silent for the old members'
 * rebalance timeout, then died of it. A `handle` error is never one of these.
 *
 * @example
 * ```ts
 * isKafkajsRace(new HandlerError(new TypeError("x"))); // false
 * ```
 */
export function isKafkajsRace(error: unknown): boolean {
  let cause: unknown = error;
  for (let depth = 0; cause && depth < 6; depth++) {
    if (cause instanceof HandlerError) return false;
    if (cause instanceof TypeError) return true;
    const next = cause as { cause?: unknown; originalError?: unknown };
    cause = next.originalError ?? next.cause;
  }
  return false;
}
