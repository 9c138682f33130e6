/**
 * One consumer's loop, "at least once": each message goes to `handle`, and
 * its offset is committed only after `handle` has finished with it (at a
 * point `commitPoint` may hold further back), so a crash can repeat a few
 * messages but never skip one.
 *
 * @example
 * ```ts
 * import { type BatchConsumer, runConsumer } from "./consumer_loop.ts";
 * declare const consumer: BatchConsumer; // a kafkajs consumer, subscribed
 *
 * await runConsumer(consumer, { handle: async () => {} }, () => Promise.resolve());
 * ```
 *
 * @module
 */
import { HandlerError } from "./consumer_crashes.ts";

/** One batch of messages, as kafkajs hands it to `eachBatch`. */
export interface MessageBatch {
  /** The batch: its topic, partition and messages. */
  batch: {
    /** The topic. */
    topic: string;
    /** The partition. */
    partition: number;
    /** The messages, in offset order. */
    messages: { value: Uint8Array | null; offset: string }[];
  };
  /** Marks a message as handled. */
  resolveOffset(offset: string): void;
  /** Tells the group this consumer is alive. */
  heartbeat(): Promise<void>;
  /** False once the consumer stops. */
  isRunning(): boolean;
  /** True once a rebalance made the batch stale. */
  isStale(): boolean;
  /** Commits the given offsets (with their metadata). */
  commitOffsetsIfNecessary(offsets: {
    topics: {
      topic: string;
      partitions: {
        partition: number;
        offset: string;
        metadata: string | null;
      }[];
    }[];
  }): Promise<void>;
}

/** The one call of a kafkajs consumer the loop makes (`consumer.run`). */
export interface BatchConsumer {
  /** Runs the consumer: each batch goes to `eachBatch`. */
  run(config: {
    autoCommit: boolean;
    eachBatchAutoResolve: boolean;
    eachBatch: (payload: MessageBatch) => Promise<void>;
  }): Promise<void>;
}

/** Where a message came from, for log lines about it. */
export interface MessagePosition {
  /** The topic. */
  topic: string;
  /** The partition. */
  partition: number;
  /** The message's offset. */
  offset: string;
}

/** What a consumer does with each message, and where it commits. */
export interface MessageHandlers {
  /**
   * Handles one message; the offset is committed after it resolves (at
   * the latest at the end of the batch; at once when it resolves to true).
   */
  handle: (
    value: Uint8Array | null,
    where: MessagePosition,
  ) => Promise<boolean | void>;
  /**
   * Where to commit on `partition` once every message before `next` is
   * handled, with metadata to store beside the offset; default `next`
   * itself. A reconstructor holds the commit at the first chunk of its
   * oldest unfinished file, so that file's next owner reads it whole.
   */
  commitPoint?: (partition: number, next: string) => CommitPoint;
}

/** An offset to commit and the metadata stored with it. */
export interface CommitPoint {
  /** The next offset to read from this partition. */
  offset: string;
  /** Kept by Kafka beside the offset (at most a few KiB); null for none. */
  metadata: string | null;
}

/** Commit at least this often inside a large batch. */
export const COMMIT_EVERY_MESSAGES = 200;

/**
 * Starts one consumer's loop: handle each message, then commit its offset
 * (at most {@linkcode COMMIT_EVERY_MESSAGES} messages apart), each batch only
 * once `ready` resolves.
 *
 * @example
 * ```ts
 * declare const consumer: BatchConsumer; // a kafkajs consumer, subscribed
 *
 * await runConsumer(consumer, {
 *   handle: async (value, where) => console.log(where.offset, value?.length),
 * }, () => Promise.resolve());
 * ```
 */
export function runConsumer(
  consumer: BatchConsumer,
  options: MessageHandlers,
  ready: () => Promise<void>,
): Promise<void> {
  return consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async (
      {
        batch,
        resolveOffset,
        heartbeat,
        isRunning,
        isStale,
        commitOffsetsIfNecessary,
      },
    ) => {
      await ready();
      // Committed directly (not through consumer.commitOffsets, which retries
      // for a minute while a rebalance is under way): a commit refused by a
      // rebalance ends the batch at once, and kafkajs rejoins the group.
      const commit = (offset: string) => {
        const next = (BigInt(offset) + 1n).toString();
        const point = options.commitPoint?.(batch.partition, next) ??
          { offset: next, metadata: null };
        return commitOffsetsIfNecessary({
          topics: [{
            topic: batch.topic,
            partitions: [{ partition: batch.partition, ...point }],
          }],
        });
      };
      let done: string | undefined;
      let sinceCommit = 0;
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) break;
        let commitNow: boolean | void;
        try {
          commitNow = await options.handle(message.value, {
            topic: batch.topic,
            partition: batch.partition,
            offset: message.offset,
          });
        } catch (error) {
          throw new HandlerError(error);
        }
        try {
          resolveOffset(message.offset);
        } catch (error) {
          // A rebalance that took this partition away mid-batch makes
          // kafkajs' offset bookkeeping throw a TypeError ("Cannot read
          // properties of undefined (reading '4')", 4 being the partition),
          // which killed restarted runs. The batch just ends: the partition's
          // new owner reads on from the last commit (at least once), and the
          // handler ignores what it already has.
          if (error instanceof TypeError) return;
          throw error;
        }
        done = message.offset;
        if (++sinceCommit >= COMMIT_EVERY_MESSAGES || commitNow === true) {
          await commit(done);
          sinceCommit = 0;
        }
        await heartbeat();
      }
      if (done !== undefined && sinceCommit > 0) await commit(done);
    },
  });
}
