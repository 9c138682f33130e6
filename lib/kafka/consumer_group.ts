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
import {
  Admin,
  type Callback,
  type Connection,
  Consumer,
  type GroupOptions,
  kGetApi,
  kGetConnection,
  type Message,
  type MessagesStream,
  type offsetCommitV8,
} from "@platformatic/kafka";
import { Buffer } from "node:buffer";
import { KafkaClient, withReachableBroker } from "./client.ts";
import type { KafkaSettings } from "./config.ts";
import { isConnectionLoss } from "./consumer_crashes.ts";
import {
  type CommitPoint,
  type MessageHandlers,
  PartitionLanes,
} from "./consumer_loop.ts";

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
 * waits this long for Kafka to drop them.
 */
export const REBALANCE_TIMEOUT_MS = 20_000;
/** A member silent this long is dropped. */
const SESSION_TIMEOUT_MS = 10_000;

/**
 * Bytes fetched per partition at once unless the config's
 * `max.partition.fetch.bytes` says otherwise. 1 MiB is two chunks of
 * 512 KiB: since each file has its own partition, the rebuild waited on the
 * broker after every second chunk (measured with kafkajs: 37 MB/s, 119 MB/s
 * with 8 MiB).
 */
export const FETCH_BYTES_PER_PARTITION = 8 * 1024 * 1024;
/** Bytes fetched at once over all partitions unless `fetch.max.bytes` says otherwise. */
const FETCH_BYTES = 8 * 1024 * 1024;
/** A consumer stops fetching while this many bytes wait to be handled. */
const PAUSE_BYTES = 4 * 1024 * 1024;

/** Waits before a lost consumer is replaced: 1 s, doubling up to 30 s. */
const RESTART_FIRST_WAIT_MS = 1000;
const RESTART_MAX_WAIT_MS = 30_000;
/** How long a start asks again while a new topic has no leaders yet. */
const START_PATIENCE_MS = 15_000;
/** How long `stop` waits for a consumer to leave the group. */
const CLOSE_WAIT_MS = 5000;

/** The platformatic consumer a member reads with. */
type PlatformaticConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>;
/** The options it is made with. */
type MemberOptions =
  & ConstructorParameters<typeof Consumer<Buffer, Buffer, Buffer, Buffer>>[0]
  & GroupOptions;
/** One topic's commits in an OffsetCommit request. */
type OffsetCommitRequestTopic = offsetCommitV8.OffsetCommitRequestTopic;

/** A running group of consumers. */
export class ConsumerGroup {
  readonly #members: Member[] = [];
  readonly #options: ConsumerGroupOptions;
  readonly #kafka: KafkaClient;
  #adminClient?: Admin;
  #stopped = false;

  private constructor(kafka: KafkaClient, options: ConsumerGroupOptions) {
    this.#kafka = kafka;
    this.#options = options;
  }

  /** Connects, subscribes and starts every consumer. */
  static async start(
    kafka: KafkaClient,
    settings: KafkaSettings,
    options: ConsumerGroupOptions,
  ): Promise<ConsumerGroup> {
    const group = new ConsumerGroup(kafka, options);
    const memberOptions = consumerOptions(kafka, settings, options.groupId);
    const count = Math.max(1, options.consumers);
    for (let i = 0; i < count; i++) {
      group.#members.push(
        new Member(group, memberOptions, settings.consumer.fromBeginning),
      );
    }
    // Joining one by one would rebalance the group once per consumer.
    await withReachableBroker(
      settings,
      () => Promise.all(group.#members.map((member) => member.start())),
    ).catch(async (error) => {
      await group.stop();
      throw error;
    });
    return group;
  }

  /** The options the group was started with (for its members). */
  get options(): ConsumerGroupOptions {
    return this.#options;
  }

  /** Whether {@linkcode ConsumerGroup.stop} was called. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** The partitions this run's consumers own (as of their last joins). */
  owned(): number[] {
    const all = new Set(this.#members.flatMap((member) => member.assignment));
    return [...all].sort((a, b) => a - b);
  }

  /** The metadata committed on `partitions`; empty when Kafka did not answer. */
  async committedMetadata(
    partitions: number[],
  ): Promise<Map<number, string | null>> {
    const committed = new Map<number, string | null>();
    try {
      for (const [partition, commit] of await this.#commits()) {
        if (partitions.includes(partition)) {
          committed.set(partition, commit.metadata);
        }
      }
    } catch {
      // Without the metadata a file finished by the partition's last owner
      // may be rebuilt once more (at least once); nothing is lost.
    }
    return committed;
  }

  /**
   * The partitions owned and the group's lag: messages on the topic past
   * the group's commits (every member's partitions, not only this run's).
   */
  async status(): Promise<GroupStatus> {
    const owned = this.owned();
    try {
      const admin = this.#admin();
      const ends = async (timestamp: bigint) => {
        const [topic] = await admin.listOffsets({
          topics: [{
            name: this.#options.topic,
            partitions: (await this.#partitions()).map((partitionIndex) => ({
              partitionIndex,
              timestamp,
            })),
          }],
        });
        return new Map(
          (topic?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]),
        );
      };
      const [high, low, commits] = await Promise.all([
        ends(-1n),
        ends(-2n),
        this.#commits(),
      ]);
      let lag = 0n;
      for (const [partition, end] of high) {
        const from = commits.get(partition)?.offset ?? -1n;
        const start = low.get(partition) ?? 0n;
        lag += end - (from < start ? start : from);
      }
      return { owned, lag: Number(lag) };
    } catch {
      return { owned, lag: undefined };
    }
  }

  /** The group's commits on the topic: offset and metadata per partition. */
  async #commits(): Promise<
    Map<number, { offset: bigint; metadata: string | null }>
  > {
    const [group] = await this.#admin().listConsumerGroupOffsets({
      groups: [this.#options.groupId],
    });
    const topic = group?.topics.find((t) => t.name === this.#options.topic);
    return new Map(
      (topic?.partitions ?? []).filter((p) => p.committedOffset >= 0n).map((
        p,
      ) => [p.partitionIndex, {
        offset: p.committedOffset,
        metadata: p.metadata ?? null,
      }]),
    );
  }

  /** The topic's partitions. */
  async #partitions(): Promise<number[]> {
    const metadata = await this.#admin().metadata({
      topics: [this.#options.topic],
    });
    const topic = metadata.topics.get(this.#options.topic);
    return topic ? [...topic.partitions.keys()] : [];
  }

  /** Stops every consumer after its current messages, committing what was done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#members.map((member) => member.stop()));
    await this.#adminClient?.close().catch(() => {});
    this.#adminClient = undefined;
  }

  /** The one admin client, made on first use. */
  #admin(): Admin {
    this.#adminClient ??= new Admin({
      ...KafkaClient.options(this.#kafka),
      retries: 1,
    });
    return this.#adminClient;
  }
}

/** The options every member's consumer is made with, from the config. */
function consumerOptions(
  kafka: KafkaClient,
  settings: KafkaSettings,
  groupId: string,
): MemberOptions {
  const fetch = settings.consumer;
  const sessionTimeout = fetch.sessionTimeout ?? SESSION_TIMEOUT_MS;
  return {
    ...KafkaClient.options(kafka),
    groupId,
    autocommit: false,
    sessionTimeout,
    rebalanceTimeout: Math.max(REBALANCE_TIMEOUT_MS, sessionTimeout),
    heartbeatInterval: fetch.heartbeatInterval ??
      Math.min(3000, Math.floor(sessionTimeout / 3)),
    minBytes: fetch.minBytes ?? 1,
    maxBytes: fetch.maxBytes ?? FETCH_BYTES,
    maxBytesPerPartition: fetch.maxBytesPerPartition ??
      FETCH_BYTES_PER_PARTITION,
    // A short fetch wait lets `quit` take effect within a second.
    maxWaitTime: fetch.maxWaitTimeInMs ?? 500,
  };
}

/**
 * One consumer of the group: its @platformatic/kafka consumer, the stream of
 * its current generation, and its partition lanes. A consumer that lost
 * Kafka is closed and replaced by a fresh one, with growing waits.
 */
class Member {
  readonly #group: ConsumerGroup;
  readonly #options: MemberOptions;
  readonly #fromBeginning: boolean;
  readonly #lanes: PartitionLanes;
  #consumer?: PlatformaticConsumer;
  #stream?: MessagesStream<Buffer, Buffer, Buffer, Buffer>;
  /** This consumer's partitions, from its last join. */
  assignment: number[] = [];
  /** Counts joins: a stream or callback of an older join does nothing. */
  #generation = 0;
  #paused = false;
  /** The consumer whose first join consume() is making (that call makes its stream). */
  #firstJoin?: PlatformaticConsumer;
  #replacing = false;
  #reopening = false;
  #stopped = false;
  #timer?: ReturnType<typeof setTimeout>;

  constructor(
    group: ConsumerGroup,
    options: MemberOptions,
    fromBeginning: boolean,
  ) {
    this.#group = group;
    this.#options = options;
    this.#fromBeginning = fromBeginning;
    this.#lanes = new PartitionLanes(group.options.topic, group.options, {
      commit: (partition, point) => this.#commit(partition, point),
      fatal: (error) => this.#fatal(error),
      drained: () => this.#resume(),
    });
  }

  /**
   * Makes the consumer and joins the group; resolves once joined. A topic
   * just made may have no leaders yet (a cluster elects them): such answers
   * are asked again for a while.
   */
  async start(): Promise<void> {
    const deadline = Date.now() + START_PATIENCE_MS;
    for (let wait = 250;; wait = Math.min(wait * 2, 2000)) {
      try {
        return await this.#startOnce();
      } catch (error) {
        const consumer = this.#consumer;
        this.#consumer = undefined;
        await closeWithin(consumer, CLOSE_WAIT_MS);
        if (
          this.#stopped || Date.now() + wait > deadline ||
          !(isStaleMetadata(error) || isRejoin(error) ||
            isCoordinatorMoving(error))
        ) throw error;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** One try of {@linkcode Member.start}. */
  async #startOnce(): Promise<void> {
    const consumer: PlatformaticConsumer = new Consumer({
      ...this.#options,
      // Called before every JoinGroup: finish and commit the running
      // messages first, so no handler works on a partition given away.
      protocolsMetadata: () => this.#beforeJoin(consumer),
    });
    this.#consumer = consumer;
    this.#firstJoin = consumer;
    consumer.on("consumer:group:join", (payload) => {
      if (this.#consumer !== consumer) return;
      const topic = this.#group.options.topic;
      const partitions = payload.assignments?.find((a) => a.topic === topic)
        ?.partitions ?? [];
      this.#joined([...partitions]);
    });
    // A failed heartbeat is sent again by the consumer itself; a failed
    // (re)join leaves it outside the group: a fresh one takes its place.
    consumer.on("error", (error: Error) => {
      if (this.#consumer === consumer) this.#trouble(error, "consumer");
    });
    // consume() joins first; its stream is the first generation's.
    const stream = await consumer.consume(this.#streamOptions());
    if (this.#consumer !== consumer || this.#stopped || this.#stream) {
      await stream.close().catch(() => {});
      return;
    }
    this.#attach(stream, this.#generation);
  }

  /** What each stream reads: the commits, else the config's reset. */
  #streamOptions() {
    return {
      topics: [this.#group.options.topic],
      mode: "committed" as const,
      fallbackMode: this.#fromBeginning
        ? "earliest" as const
        : "latest" as const,
      autocommit: false,
      maxBytes: this.#options.maxBytes,
      maxBytesPerPartition: this.#options.maxBytesPerPartition,
      maxWaitTime: this.#options.maxWaitTime,
      minBytes: this.#options.minBytes,
      // Messages wait in the lanes, not in the stream.
      highWaterMark: 64,
    };
  }

  /** Lets the running messages finish and commits them, before a (re)join. */
  async #beforeJoin(consumer: PlatformaticConsumer): Promise<Buffer> {
    if (this.#consumer === consumer) {
      this.#stream?.pause();
      await this.#lanes.hold();
    }
    return Buffer.alloc(0);
  }

  /** A join completed: new lanes, `assigned`, then a stream of this generation. */
  #joined(partitions: number[]): void {
    const generation = ++this.#generation;
    this.assignment = partitions;
    this.#group.options.joined?.();
    const old = this.#stream;
    this.#stream = undefined;
    old?.removeAllListeners("data");
    // The old stream may hold messages read before the join: never handled.
    void old?.close().catch(() => {});
    const ready = this.#assigned(partitions);
    this.#lanes.reset(partitions, ready);
    // The first join happens inside consume(), which makes the stream.
    if (this.#firstJoin === this.#consumer) {
      this.#firstJoin = undefined;
      return;
    }
    ready.then(async () => {
      const consumer = this.#consumer;
      if (!consumer || generation !== this.#generation || this.#stopped) {
        return;
      }
      try {
        const stream = await consumer.consume(this.#streamOptions());
        if (
          generation !== this.#generation || this.#stopped || this.#stream
        ) {
          await stream.close().catch(() => {});
          return;
        }
        this.#attach(stream, generation);
      } catch (error) {
        this.#trouble(error as Error, "stream");
      }
    });
  }

  /** Hands the new ownership and the committed metadata to `assigned`. */
  async #assigned(partitions: number[]): Promise<void> {
    const assigned = this.#group.options.assigned;
    if (!assigned) return;
    const committed = await this.#group.committedMetadata(partitions);
    try {
      await assigned(this.#group.owned(), committed);
    } catch (error) {
      this.#fatal(error as Error);
    }
  }

  /** Feeds a stream's messages to the lanes, pausing it while many wait. */
  #attach(
    stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>,
    generation: number,
  ): void {
    this.#stream = stream;
    this.#paused = false;
    stream.on("error", (error: Error) => {
      if (this.#stream === stream) this.#trouble(error, "stream");
    });
    stream.on("data", (message: Message<Buffer, Buffer, Buffer, Buffer>) => {
      if (generation !== this.#generation) return;
      this.#lanes.push(message);
      if (!this.#paused && this.#lanes.waitingBytes > PAUSE_BYTES) {
        this.#paused = true;
        stream.pause();
      }
    });
  }

  /** Fetches again once the lanes have worked off what waited. */
  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#stream?.resume();
  }

  /**
   * Commits `point` on `partition` with its metadata, as this member of
   * the current generation. @platformatic/kafka's own `commit` sends no
   * metadata, so the OffsetCommit request goes out here. Never rejects: a
   * refused commit is made good by a later one (or read again, at least
   * once).
   */
  async #commit(partition: number, point: CommitPoint): Promise<void> {
    const consumer = this.#consumer;
    if (!consumer?.memberId) return;
    const topic: OffsetCommitRequestTopic = {
      name: this.#group.options.topic,
      partitions: [{
        partitionIndex: partition,
        committedOffset: BigInt(point.offset),
        committedLeaderEpoch: -1,
        committedMetadata: point.metadata,
      }],
    };
    try {
      const coordinator = await consumer.findGroupCoordinator();
      const metadata = await consumer.metadata({
        topics: [this.#group.options.topic],
      });
      const broker = metadata.brokers.get(coordinator);
      if (!broker) throw new Error(`no broker ${coordinator} in metadata`);
      const connection = await callbackPromise<Connection>((done) =>
        consumer[kGetConnection](broker, done)
      );
      const api = await callbackPromise<OffsetCommitApi>((done) =>
        consumer[kGetApi]("OffsetCommit", done)
      );
      await api.async(
        connection,
        consumer.groupId,
        consumer.generationId,
        consumer.memberId,
        null,
        [topic],
      );
    } catch {
      // A rebalance refuses the commit: the heartbeat sees it and rejoins.
      // Kafka away: the stream fails too, and the next commit covers this.
    }
  }

  /**
   * Handles an error: an outage is ridden out (the stream is made again once
   * Kafka answers; a consumer that fell out of the group is replaced),
   * anything else is fatal.
   */
  #trouble(error: Error, source: "stream" | "consumer"): void {
    if (this.#stopped || this.#replacing) return;
    const outage = this.#group.options.outage;
    if (!isConnectionLoss(error)) {
      // A rebalance is the consumer's own business: it rejoins by itself.
      if (isRejoin(error)) {
        if (source === "stream") this.#reopenLater(RESTART_FIRST_WAIT_MS);
        return;
      }
      this.#fatal(error);
      return;
    }
    if (!outage) {
      this.#fatal(error);
      return;
    }
    outage(error);
    if (source === "consumer") this.#replaceLater(RESTART_FIRST_WAIT_MS);
    else this.#reopenLater(RESTART_FIRST_WAIT_MS);
  }

  /**
   * Makes the stream again after `wait` ms, once Kafka answers, trying
   * again, slower, until it does. The member stays in the group (its
   * heartbeats go on), so no partition is taken from it meanwhile.
   */
  #reopenLater(wait: number): void {
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.removeAllListeners("data");
    void stream?.close().catch(() => {});
    if (this.#reopening) return;
    this.#reopening = true;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(async () => {
      const consumer = this.#consumer;
      if (this.#stopped || !consumer || this.#replacing) {
        this.#reopening = false;
        return;
      }
      try {
        await consumer.listOffsets({ topics: [this.#group.options.topic] });
        if (!this.#stream && this.#consumer === consumer) {
          // What waited came from the old stream: the new one reads again
          // from the commits, in order.
          await this.#lanes.hold();
          const generation = this.#generation;
          this.#lanes.reset(this.assignment, Promise.resolve());
          const fresh = await consumer.consume(this.#streamOptions());
          if (this.#stream || generation !== this.#generation) {
            await fresh.close().catch(() => {});
          } else this.#attach(fresh, generation);
        }
        this.#reopening = false;
        this.#group.options.joined?.();
      } catch {
        this.#reopening = false;
        if (!this.#stopped) {
          this.#reopenLater(Math.min(wait * 2, RESTART_MAX_WAIT_MS));
        }
      }
    }, wait);
  }

  /** Replaces the consumer after `wait` ms, trying again, slower, until it works. */
  #replaceLater(wait: number): void {
    this.#replacing = true;
    const old = this.#consumer;
    this.#consumer = undefined;
    this.#generation++;
    this.assignment = [];
    this.#lanes.reset([], Promise.resolve());
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.removeAllListeners("data");
    void stream?.close().catch(() => {});
    void closeWithin(old, CLOSE_WAIT_MS);
    this.#timer = setTimeout(async () => {
      if (this.#stopped) return;
      try {
        await this.start();
        this.#replacing = false;
      } catch {
        const consumer = this.#consumer;
        this.#consumer = undefined;
        void closeWithin(consumer, CLOSE_WAIT_MS);
        if (!this.#stopped) {
          this.#replaceLater(Math.min(wait * 2, RESTART_MAX_WAIT_MS));
        }
      }
    }, wait);
  }

  /** Reports a failure for good. */
  #fatal(error: Error): void {
    if (this.#stopped) return;
    this.#group.options.fatal(error);
  }

  /** Finishes the running messages, commits them and leaves the group. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#stream?.pause();
    await this.#lanes.hold();
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.removeAllListeners("data");
    await stream?.close().catch(() => {});
    const consumer = this.#consumer;
    this.#consumer = undefined;
    await closeWithin(consumer, CLOSE_WAIT_MS);
  }
}

/** The OffsetCommit API as @platformatic/kafka hands it out. */
interface OffsetCommitApi {
  async(
    connection: Connection,
    groupId: string,
    generationId: number,
    memberId: string,
    groupInstanceId: string | null,
    topics: OffsetCommitRequestTopic[],
  ): Promise<unknown>;
}

/** Calls a callback-style function and waits for its result. */
function callbackPromise<T>(call: (done: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) =>
    call((error, value) => error ? reject(error) : resolve(value as T))
  );
}

/** Closes a consumer (leaving the group), giving up after `ms`. */
async function closeWithin(
  consumer: PlatformaticConsumer | undefined,
  ms: number,
): Promise<void> {
  if (!consumer) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    consumer.close(true).catch(() => {}),
    new Promise((resolve) => timer = setTimeout(resolve, ms)),
  ]);
  clearTimeout(timer);
}

/** Whether Kafka's metadata was not ready (a topic or leader just made). */
function isStaleMetadata(error: unknown): boolean {
  return findCause(error, (cause) => cause.hasStaleMetadata === true);
}

/** Whether the group's coordinator was being chosen or loaded. */
function isCoordinatorMoving(error: unknown): boolean {
  return findCause(
    error,
    (cause) =>
      typeof cause.apiId === "string" && cause.apiId.includes("COORDINATOR"),
  );
}

/** Whether `error` or an error it wraps passes `test`. */
function findCause(
  error: unknown,
  test: (cause: Record<string, unknown>) => boolean,
): boolean {
  const seen: unknown[] = [error];
  for (let i = 0; i < seen.length && i < 32; i++) {
    const cause = seen[i] as Record<string, unknown> | null;
    if (!cause || typeof cause !== "object") continue;
    if (test(cause)) return true;
    if (cause.cause) seen.push(cause.cause);
    if (Array.isArray(cause.errors)) seen.push(...cause.errors);
  }
  return false;
}

/** Whether Kafka refused a request because the group is rebalancing. */
function isRejoin(error: unknown): boolean {
  return findCause(error, (cause) => cause.needsRejoin === true);
}
