/**
 * Several consumers in one consumer group, committing "at least once".
 *
 * `--n_threads` consumers join one group; Kafka shares the topic's partitions
 * among them. Each message goes to `handle`, and its offset is committed only
 * after `handle` has finished with it (the 2021 tool committed first, so a crash
 * lost chunks). A crash can therefore repeat a few messages, never skip one:
 * handlers must accept duplicates, which the file assembler does.
 *
 * @example
 * ```ts
 * import { ConsumerGroup } from "./consumer_group.ts";
 *
 * const group = await ConsumerGroup.start(kafka, settings, {
 *   topic: "lecroy_files", groupId: "rebuild-1", consumers: 5,
 *   handle: async (value, where) => console.log(where.partition, where.offset),
 *   fatal: (error) => console.error(error),
 * });
 * // later:
 * await group.stop();
 * ```
 *
 * @module
 */
import type { Consumer, Kafka } from "kafkajs";
import { withReachableBroker } from "./client.ts";
import type { KafkaSettings } from "./config.ts";

/** Where a message came from, for log lines about it. */
export interface MessagePosition {
  topic: string;
  partition: number;
  offset: string;
}

/** What the group consumes and what it does with each message. */
export interface ConsumerGroupOptions {
  topic: string;
  groupId: string;
  consumers: number;
  /** Handles one message; the offset is committed after it resolves. */
  handle: (value: Uint8Array | null, where: MessagePosition) => Promise<void>;
  /** Called when a consumer fails for good (e.g. `handle` threw). */
  fatal: (error: Error) => void;
}

/** Commit at least this often inside a large batch. */
const COMMIT_EVERY_MESSAGES = 200;

/** A running group of consumers. */
export class ConsumerGroup {
  readonly #consumers: Consumer[];

  private constructor(consumers: Consumer[]) {
    this.#consumers = consumers;
  }

  /** Connects, subscribes and starts every consumer. */
  static async start(
    kafka: Kafka,
    settings: KafkaSettings,
    options: ConsumerGroupOptions,
  ): Promise<ConsumerGroup> {
    const { groupId: _ignored, fromBeginning, ...fetch } = settings.consumer;
    const consumers = Array.from(
      { length: Math.max(1, options.consumers) },
      () =>
        kafka.consumer({
          // A short fetch wait lets `quit` take effect within a second.
          maxWaitTimeInMs: 1000,
          ...withoutUndefined(fetch),
          groupId: options.groupId,
          retry: { retries: 8, restartOnFailure: () => Promise.resolve(false) },
        }),
    );
    await withReachableBroker(settings, async () => {
      for (const consumer of consumers) {
        await consumer.connect();
        await consumer.subscribe({ topic: options.topic, fromBeginning });
      }
    });
    for (const consumer of consumers) {
      consumer.on(consumer.events.CRASH, (event) => {
        options.fatal(event.payload.error);
      });
    }
    // Joining one by one would rebalance the group once per consumer.
    await Promise.all(consumers.map((consumer) => run(consumer, options)));
    return new ConsumerGroup(consumers);
  }

  /** Stops every consumer after its current message, committing what was done. */
  async stop(): Promise<void> {
    await Promise.all(this.#consumers.map((c) => c.disconnect()));
  }
}

/** Starts one consumer's loop: handle each message, then commit its offset. */
function run(consumer: Consumer, options: ConsumerGroupOptions): Promise<void> {
  return consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async (
      { batch, resolveOffset, heartbeat, isRunning, isStale },
    ) => {
      const commit = (offset: string) =>
        consumer.commitOffsets([{
          topic: batch.topic,
          partition: batch.partition,
          offset: (BigInt(offset) + 1n).toString(),
        }]);
      let done: string | undefined;
      let sinceCommit = 0;
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) break;
        await options.handle(message.value, {
          topic: batch.topic,
          partition: batch.partition,
          offset: message.offset,
        });
        resolveOffset(message.offset);
        done = message.offset;
        if (++sinceCommit >= COMMIT_EVERY_MESSAGES) {
          await commit(done);
          sinceCommit = 0;
        }
        await heartbeat();
      }
      if (done !== undefined && sinceCommit > 0) await commit(done);
    },
  });
}

/** Drops unset keys, so kafkajs keeps its own defaults for them. */
function withoutUndefined<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(values).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}
