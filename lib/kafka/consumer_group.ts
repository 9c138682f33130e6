/**
 * Several consumers in one consumer group, committing "at least once".
 *
 * `--n_threads` consumers join one group; Kafka shares the topic's partitions
 * among them. Each message goes to `handle`, and its offset is committed only
 * after `handle` has finished with it (the 2021 tool committed first, so a crash
 * lost chunks). A crash can therefore repeat a few messages, never skip one:
 * handlers must accept duplicates, which the file assembler does.
 *
 * `commitPoint` may hold a partition's commit further back than the last
 * message handled (the reconstructor holds it at the first chunk of its
 * oldest unfinished file) and store metadata beside it; `assigned` hears of
 * every new assignment, with the metadata committed on the partitions, before
 * a consumer reads on; `status` gives the partitions owned and the group's lag.
 *
 * @example
 * ```ts
 * import { ConsumerGroup } from "./consumer_group.ts";
 * import type { KafkaClient } from "./client.ts";
 * import type { KafkaSettings } from "./config.ts";
 * declare const kafka: KafkaClient, settings: KafkaSettings;
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
import type { Admin, Consumer } from "kafkajs";
import { KafkaClient, withReachableBroker } from "./client.ts";
import type { KafkaSettings } from "./config.ts";
import { isConnectionLoss, isKafkajsRace } from "./consumer_crashes.ts";
import { type MessageHandlers, runConsumer } from "./consumer_loop.ts";

/** What the group consumes and what it does with each message. */
export interface ConsumerGroupOptions extends MessageHandlers {
  /** The topic to read. */
  topic: string;
  /** The consumer group's id. */
  groupId: string;
  /** Consumers in the group (`--n_threads`). */
  consumers: number;
  /**
   * Called after a consumer joined (or rejoined) the group, before it reads
   * anything, with the partitions this run's consumers own now and the
   * metadata committed for the joining consumer's partitions.
   */
  assigned?: (
    owned: number[],
    committed: Map<number, string | null>,
  ) => Promise<void> | void;
  /** Called when a consumer fails for good (e.g. `handle` threw). */
  fatal: (error: Error) => void;
  /**
   * Called when a consumer lost Kafka (broker stopped, restarted, network
   * gone) and reconnects on its own, with growing waits; without it, such a
   * loss is {@linkcode ConsumerGroupOptions.fatal}.
   */
  outage?: (error: Error) => void;
  /** Called each time a consumer has joined the group (also after an outage). */
  joined?: () => void;
}

/** What {@linkcode ConsumerGroup.status} reports. */
export interface GroupStatus {
  /** Partitions this run's consumers own. */
  owned: number[];
  /** Messages on the topic the group has not committed past; undefined when Kafka did not answer. */
  lag: number | undefined;
}

/**
 * How long Kafka waits for the group's members when it rebalances. The
 * members of a run killed with `kill -9` never answer, so a restarted run
 * waits this long for Kafka to drop them (kafkajs' default is 60 s).
 */
export const REBALANCE_TIMEOUT_MS = 20_000;
/** A member silent this long is dropped (kafkajs' default is 30 s). */
const SESSION_TIMEOUT_MS = 10_000;

/** A running group of consumers. */
export class ConsumerGroup {
  readonly #consumers: Consumer[];
  readonly #create: () => Consumer;
  readonly #options: ConsumerGroupOptions;
  readonly #fromBeginning?: boolean;
  /** Each consumer's partitions, from its last join. */
  readonly #assignments = new Map<Consumer, number[]>();
  /** Each consumer's join work ({@linkcode ConsumerGroupOptions.assigned}), awaited before it reads. */
  readonly #ready = new Map<Consumer, Promise<void>>();
  /** Makes the admin client that asks for the group's commits and the topic's ends. */
  readonly #makeAdmin: () => Promise<Admin>;
  #adminClient?: Promise<Admin>;
  #stopped = false;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  private constructor(
    create: () => Consumer,
    options: ConsumerGroupOptions,
    admin: () => Promise<Admin>,
    fromBeginning?: boolean,
  ) {
    this.#create = create;
    this.#makeAdmin = admin;
    this.#options = options;
    this.#fromBeginning = fromBeginning;
    this.#consumers = Array.from(
      { length: Math.max(1, options.consumers) },
      () => this.#watch(create()),
    );
  }

  /** Connects, subscribes and starts every consumer. */
  static async start(
    kafka: KafkaClient,
    settings: KafkaSettings,
    options: ConsumerGroupOptions,
  ): Promise<ConsumerGroup> {
    const { groupId: _ignored, fromBeginning, ...fetch } = settings.consumer;
    const create = () =>
      KafkaClient.kafkajs(kafka).consumer({
        // A short fetch wait lets `quit` take effect within a second.
        maxWaitTimeInMs: 1000,
        maxBytesPerPartition: FETCH_BYTES_PER_PARTITION,
        sessionTimeout: SESSION_TIMEOUT_MS,
        rebalanceTimeout: REBALANCE_TIMEOUT_MS,
        ...withoutUndefined(fetch),
        groupId: options.groupId,
        retry: {
          retries: 8,
          restartOnFailure: (error) =>
            Promise.resolve(
              options.outage !== undefined && isConnectionLoss(error),
            ),
        },
      });
    const group = new ConsumerGroup(
      create,
      options,
      // kafkajs' own admin: the group's commits need fetchOffsets.
      async () => {
        const admin = KafkaClient.kafkajs(kafka).admin();
        await withReachableBroker(settings, () => admin.connect());
        return admin;
      },
      fromBeginning,
    );
    await withReachableBroker(settings, async () => {
      for (const consumer of group.#consumers) {
        await consumer.connect();
        await consumer.subscribe({ topic: options.topic, fromBeginning });
      }
    });
    // Joining one by one would rebalance the group once per consumer.
    await Promise.all(
      group.#consumers.map((consumer) => group.#run(consumer)),
    );
    return group;
  }

  /** Reports a consumer's crashes and joins; replaces it after an outage. */
  #watch(consumer: Consumer): Consumer {
    consumer.on(consumer.events.CRASH, (event) => {
      const error = event.payload.error;
      // kafkajs restarts the consumer itself when `restartOnFailure` said so.
      if (event.payload.restart) this.#options.outage?.(error);
      else if (this.#options.outage && isConnectionLoss(error)) {
        // Some losses (no coordinator found) kafkajs does not retry: a fresh
        // consumer takes this one's place once Kafka answers again.
        this.#options.outage(error);
        this.#replaceLater(consumer, RESTART_FIRST_WAIT_MS);
      } else if (isKafkajsRace(error)) {
        // See isKafkajsRace: the consumer's own state is broken, the group
        // is fine. A fresh consumer rejoins and reads on from the commits.
        this.#replaceLater(consumer, RESTART_FIRST_WAIT_MS);
      } else this.#options.fatal(error);
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.#options.joined?.();
      const partitions = event.payload.memberAssignment[this.#options.topic] ??
        [];
      this.#assignments.set(consumer, [...partitions]);
      // kafkajs emits this before its first fetch of the new generation;
      // the batches wait for the work below (see #run).
      this.#ready.set(consumer, this.#joined(partitions));
    });
    return consumer;
  }

  /** Hands the new ownership and the committed metadata to `assigned`. */
  async #joined(partitions: number[]): Promise<void> {
    const assigned = this.#options.assigned;
    if (!assigned) return;
    const committed = new Map<number, string | null>();
    try {
      const admin = await this.#admin();
      const [offsets] = await admin.fetchOffsets({
        groupId: this.#options.groupId,
        topics: [this.#options.topic],
      });
      for (const p of offsets?.partitions ?? []) {
        if (partitions.includes(p.partition)) {
          committed.set(p.partition, p.metadata);
        }
      }
    } catch {
      // Without the metadata a file finished by the partition's last owner
      // may be rebuilt once more (at least once); nothing is lost.
    }
    await assigned(this.owned(), committed);
  }

  /** The partitions this run's consumers own (as of their last joins). */
  owned(): number[] {
    const all = new Set([...this.#assignments.values()].flat());
    return [...all].sort((a, b) => a - b);
  }

  /**
   * The partitions owned and the group's lag: messages on the topic past
   * the group's commits (every member's partitions, not only this run's).
   */
  async status(): Promise<GroupStatus> {
    const owned = this.owned();
    try {
      const admin = await this.#admin();
      const ends = await admin.fetchTopicOffsets(this.#options.topic);
      const [commits] = await admin.fetchOffsets({
        groupId: this.#options.groupId,
        topics: [this.#options.topic],
      });
      const committed = new Map(
        (commits?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]),
      );
      let lag = 0n;
      for (const end of ends) {
        const from = committed.get(end.partition) ?? -1n;
        const start = from < BigInt(end.low) ? BigInt(end.low) : from;
        lag += BigInt(end.high) - start;
      }
      return { owned, lag: Number(lag) };
    } catch {
      return { owned, lag: undefined };
    }
  }

  /** Starts one consumer's loop, reading only after its join work is done. */
  #run(consumer: Consumer): Promise<void> {
    return runConsumer(
      consumer,
      this.#options,
      () => this.#ready.get(consumer) ?? Promise.resolve(),
    );
  }

  /** Replaces a crashed consumer after `wait` ms, trying again, slower, until it works. */
  #replaceLater(old: Consumer, wait: number): void {
    if (this.#stopped) return;
    const timer = setTimeout(async () => {
      this.#timers.delete(timer);
      if (this.#stopped) return;
      const slot = this.#consumers.indexOf(old);
      if (slot < 0) return;
      this.#assignments.delete(old);
      this.#ready.delete(old);
      await old.disconnect().catch(() => {});
      const fresh = this.#watch(this.#create());
      this.#consumers[slot] = fresh;
      try {
        await fresh.connect();
        await fresh.subscribe({
          topic: this.#options.topic,
          fromBeginning: this.#fromBeginning,
        });
        await this.#run(fresh);
      } catch {
        this.#replaceLater(fresh, Math.min(wait * 2, RESTART_MAX_WAIT_MS));
      }
    }, wait);
    this.#timers.add(timer);
  }

  /** Stops every consumer after its current message, committing what was done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    await Promise.all(
      this.#consumers.map((c) => c.disconnect().catch(() => {})),
    );
    const admin = await this.#adminClient?.catch(() => undefined);
    await admin?.disconnect().catch(() => {});
  }

  /** The one admin client, connected on first use. */
  #admin(): Promise<Admin> {
    this.#adminClient ??= this.#makeAdmin();
    // A failed connection is tried again next time.
    this.#adminClient.catch(() => this.#adminClient = undefined);
    return this.#adminClient;
  }
}

/**
 * Bytes fetched per partition at once unless the config's
 * `max.partition.fetch.bytes` says otherwise. kafkajs' 1 MiB is two chunks of
 * 512 KiB: since each file has its own partition and kafkajs fetches again
 * only after a batch is handled, the rebuild waited on the broker after every
 * second chunk (measured: 37 MB/s, 119 MB/s with 8 MiB).
 */
const FETCH_BYTES_PER_PARTITION = 8 * 1024 * 1024;

/** Waits before a crashed consumer is replaced: 1 s, doubling up to 30 s. */
const RESTART_FIRST_WAIT_MS = 1000;
const RESTART_MAX_WAIT_MS = 30_000;

/** Drops unset keys, so kafkajs keeps its own defaults for them. */
function withoutUndefined<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(values).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}
