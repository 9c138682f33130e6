/**
 * One consumer of a `ConsumerGroup` (consumer_group.ts): its @platformatic/kafka
 * consumer, the stream of its current generation, and its partition lanes.
 *
 * The group starts `--n_threads` members; each joins the group, feeds what
 * it reads to its lanes (consumer_loop.ts), and commits with metadata
 * (offset_commits.ts) once a lane has handled its messages. Before every
 * (re)join it lets the running messages finish and commits them, so no
 * handler works on a partition given away. A member that lost Kafka rides
 * the outage out: its stream is made again once Kafka answers, and a
 * consumer that fell out of the group is closed and replaced by a fresh one,
 * with growing waits.
 *
 * @example
 * ```ts
 * import { Member, type MemberGroup, type MemberOptions } from "./consumer_member.ts";
 * declare const group: MemberGroup, options: MemberOptions;
 *
 * const member = new Member(group, options, true);
 * await member.start();
 * console.log(member.assignment);
 * await member.stop();
 * ```
 *
 * @module
 */
import {
  Consumer,
  type FetchOptions as ClientFetchOptions,
  type GroupOptions,
  type Message,
  type MessagesStream,
} from "@platformatic/kafka";
import { Buffer } from "node:buffer";
import type { ConsumerGroupOptions } from "./consumer_group.ts";
import { isConnectionLoss } from "./consumer_crashes.ts";
import {
  type CommitPoint,
  DRAINED_BYTES,
  type LaneMessage,
  PartitionLanes,
} from "./consumer_loop.ts";
import { commitWithMetadata } from "./offset_commits.ts";
import {
  BIG_RECORD_BYTES,
  oldGarbage,
  ownBytes,
  youngGarbage,
} from "../common/buffer_memory.ts";

/**
 * A consumer stops fetching while more than this many fetches' worth of
 * bytes wait to be handled, and fetches again once less than one fetch's
 * worth waits. Two, not one: the stream sends its next fetch request only
 * while it is not paused, so a pause that a single fetch's answer can set
 * off leaves the lanes to run dry while the next answer comes (15-60 ms per
 * fetch here). Paused at 4 MiB with 6 MiB fetches, a 512 MiB rebuild sat
 * waiting 0.8-1.3 s of its 3-4 s; at twice a 3 MiB fetch, 0.2-0.5 s (issue
 * 22, 2026-12-04, the README's Benchmark section has the runs).
 */
const PAUSE_FETCHES = 2;
/**
 * The most bytes of one fetch that {@linkcode PAUSE_FETCHES} counts: a config
 * asking for Kafka's own default of 50 MB per fetch would otherwise let
 * 100 MB wait in memory.
 */
const PAUSE_FETCH_BYTES_MAX = 8 * 1024 * 1024;

/**
 * The most bytes a fetch asks for while the records are small (below
 * {@linkcode BIG_RECORD_BYTES}). A small record is a view into one of the
 * client's 64 KiB socket reads, so a fetch's socket buffers live until its
 * last record is handled. A 3 MiB fetch, with two fetches' worth waiting in
 * the lanes, outlives two of V8's young collections: its buffers move to the
 * old generation and wait there for a full one. A 512 MiB rebuild at 16 KiB
 * chunks peaked at 187-238 MB of memory with 3 MiB fetches and at 148-150 MB
 * with 1 MiB ones (issue 22, 2026-12-04; the README's Benchmark section).
 * Big records are copied out of the socket reads anyway, and fetch faster in
 * bigger fetches: they keep the config's size.
 */
const SMALL_RECORD_FETCH_BYTES = 1024 * 1024;

/**
 * The least a fetch of small records asks for when several consumers of the
 * run share {@linkcode SMALL_RECORD_FETCH_BYTES} (see `Member.#fetchSize`).
 */
const SMALL_RECORD_FETCH_MIN_BYTES = 256 * 1024;

/**
 * Waits before a lost consumer is replaced (and before a join lost to an
 * outage is tried again, consumer_group.ts): 1 s, doubling up to 30 s
 * ({@linkcode nextRestartWait}).
 */
export const RESTART_FIRST_WAIT_MS = 1000;
/** The longest of those waits. */
const RESTART_MAX_WAIT_MS = 30_000;

/**
 * The wait after one of `wait` ms: twice as long, at most 30 s.
 *
 * @example
 * ```ts
 * import { nextRestartWait, RESTART_FIRST_WAIT_MS } from "./consumer_member.ts";
 *
 * nextRestartWait(RESTART_FIRST_WAIT_MS); // 2000
 * nextRestartWait(20_000); // 30000
 * ```
 */
export function nextRestartWait(wait: number): number {
  return Math.min(wait * 2, RESTART_MAX_WAIT_MS);
}
/** How long a start asks again while a new topic has no leaders yet. */
const START_PATIENCE_MS = 15_000;
/** How long `stop` waits for a consumer to leave the group. */
const CLOSE_WAIT_MS = 5000;

/** What the client's stream asks its consumer to fetch. */
type FetchOptions = ClientFetchOptions<Buffer, Buffer, Buffer, Buffer>;
/** The platformatic consumer a member reads with. */
type PlatformaticConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>;
/** @platformatic/kafka's options for a consumer in a group. */
type GroupConsumerOptions =
  & ConstructorParameters<typeof Consumer<Buffer, Buffer, Buffer, Buffer>>[0]
  & GroupOptions;
/**
 * The options a member's consumer is made with (`consumerOptions` in
 * consumer_group.ts builds them from the config); lib/kafka only.
 */
export type MemberOptions = GroupConsumerOptions;

/** What a member needs of its group: the options, who owns what, the commits. */
export interface MemberGroup {
  /** The options the group was started with. */
  readonly options: ConsumerGroupOptions;
  /** The partitions this run's consumers own (as of their last joins). */
  owned(): number[];
  /** The metadata committed on `partitions`; empty when Kafka did not answer. */
  committedMetadata(partitions: number[]): Promise<Map<number, string | null>>;
  /** How many of this run's consumers have messages waiting now. */
  busyMembers(): number;
}

/**
 * One consumer of the group: its @platformatic/kafka consumer, the stream of
 * its current generation, and its partition lanes. A consumer that lost
 * Kafka is closed and replaced by a fresh one, with growing waits.
 *
 * @example
 * ```ts
 * import { Member, type MemberGroup, type MemberOptions } from "./consumer_member.ts";
 * declare const group: MemberGroup, options: MemberOptions;
 *
 * const member = new Member(group, options, false);
 * await member.start();
 * ```
 */
export class Member {
  readonly #group: MemberGroup;
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
  /** The config's fetch size, at most PAUSE_FETCH_BYTES_MAX. */
  readonly #fetchBytes: number;
  /** Whether the last record read was small (see SMALL_RECORD_FETCH_BYTES). */
  #smallRecords = true;
  /** The consumer whose first join consume() is making (that call makes its stream). */
  #firstJoin?: PlatformaticConsumer;
  #replacing = false;
  #reopening = false;
  #stopped = false;
  #timer?: ReturnType<typeof setTimeout>;

  /** A member of `group`, not started yet; `fromBeginning` when nothing is committed. */
  constructor(
    group: MemberGroup,
    options: MemberOptions,
    fromBeginning: boolean,
  ) {
    this.#group = group;
    this.#options = options;
    this.#fromBeginning = fromBeginning;
    this.#fetchBytes = Math.min(
      options.maxBytes ?? DRAINED_BYTES,
      PAUSE_FETCH_BYTES_MAX,
    );
    const sizes = () => this.#fetchSize();
    this.#lanes = new PartitionLanes(group.options.topic, group.options, {
      commit: (partition, point) => this.#commit(partition, point),
      fatal: (error) => this.#fatal(error),
      drained: () => this.#resume(),
      // The stream fetches again once less than one fetch's worth waits.
      get drainedBytes() {
        return sizes();
      },
    });
  }

  /**
   * The bytes the next fetch asks for: less while the records are small, and
   * then shared by the run's consumers that have messages waiting. Each
   * consumer holds a fetch in flight and up to two waiting: with 5 of them
   * busy (10,000 small files over 5 partitions) that was 15 MiB of socket
   * reads, and the rebuild peaked at 150-152 MB in the bench; a file of 16
   * KiB chunks keeps one consumer busy and its 1 MiB (issue 22).
   */
  #fetchSize(): number {
    if (!this.#smallRecords) return this.#fetchBytes;
    const shared = SMALL_RECORD_FETCH_BYTES /
      Math.max(1, this.#group.busyMembers());
    return Math.min(
      this.#fetchBytes,
      Math.max(SMALL_RECORD_FETCH_MIN_BYTES, shared),
    );
  }

  /** Whether messages of this consumer wait to be handled now. */
  get busy(): boolean {
    return this.#lanes.waitingBytes > 0;
  }

  /**
   * Has every fetch of `consumer` ask for {@linkcode Member.#fetchSize}
   * bytes. The client's stream keeps a copy of the options it was made with,
   * so the size is set where each fetch request is made.
   */
  #sizeFetches(consumer: PlatformaticConsumer): void {
    const fetch = consumer.fetch.bind(consumer) as (
      options: FetchOptions,
      callback?: unknown,
    ) => unknown;
    const sized = (options: FetchOptions): FetchOptions => {
      const most = this.#fetchSize();
      if (most >= this.#fetchBytes) return options;
      return {
        ...options,
        maxBytes: Math.min(options.maxBytes ?? most, most),
        topics: options.topics.map((topic) => ({
          ...topic,
          partitions: topic.partitions.map((partition) => ({
            ...partition,
            partitionMaxBytes: Math.min(partition.partitionMaxBytes, most),
          })),
        })),
      };
    };
    consumer.fetch =
      ((options: FetchOptions, callback?: unknown) =>
        fetch(sized(options), callback)) as typeof consumer.fetch;
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
    this.#sizeFetches(consumer);
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
      this.#lanes.push(laneMessage(message));
      // A big record was copied out of the socket buffers, which are garbage
      // once the fetch is handed out: freed while young (buffer_memory.ts).
      const size = message.value?.byteLength ?? 0;
      if (size >= BIG_RECORD_BYTES) youngGarbage(size);
      oldGarbage(1);
      this.#smallRecords = size < BIG_RECORD_BYTES;
      if (
        !this.#paused &&
        this.#lanes.waitingBytes > PAUSE_FETCHES * this.#fetchSize()
      ) {
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
  async #commit(partition: number, point: CommitPoint): Promise<boolean> {
    const consumer = this.#consumer;
    if (!consumer?.memberId) return false;
    try {
      await commitWithMetadata(
        consumer,
        this.#group.options.topic,
        partition,
        point,
      );
      return true;
    } catch {
      // A rebalance refuses the commit: the heartbeat sees it and rejoins.
      // Kafka away: the stream fails too, and the next commit covers this.
      return false;
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
          this.#reopenLater(nextRestartWait(wait));
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
          this.#replaceLater(nextRestartWait(wait));
        }
      }
    }, wait);
  }

  /** Commits again on idle partitions whose commit point moved. */
  recommit(): void {
    if (!this.#stopped && !this.#replacing) this.#lanes.recommit();
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

/**
 * A record as the lanes keep it while it waits. A big record's value is a
 * copy of its own, but its key and headers are views into the client's
 * 64 KiB socket reads, which would keep the memory of its whole fetch alive
 * until the record's turn: they are copied (a few bytes each; see
 * buffer_memory.ts). A small record's value is itself such a view, so its
 * key and headers stay as they are.
 */
function laneMessage(
  message: Message<Buffer, Buffer, Buffer, Buffer>,
): LaneMessage {
  if ((message.value?.byteLength ?? 0) < BIG_RECORD_BYTES) return message;
  const headers = new Map<Uint8Array, Uint8Array>();
  for (const [name, value] of message.headers ?? []) {
    headers.set(ownBytes(name), ownBytes(value));
  }
  return {
    partition: message.partition,
    offset: message.offset,
    timestamp: message.timestamp,
    key: message.key ? ownBytes(message.key) : message.key,
    value: message.value,
    headers,
  };
}
