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
 * This module holds the group and its options; each consumer is a `Member`
 * (consumer_member.ts), which commits with metadata (offset_commits.ts).
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
import { Admin } from "@platformatic/kafka";
import { brokerError, KafkaClient } from "./client.ts";
import { isConnectionLoss } from "./consumer_crashes.ts";
import { sleep } from "../common/shutdown.ts";
import type { KafkaSettings } from "./config.ts";
import type { MessageHandlers } from "./consumer_loop.ts";
import {
  Member,
  type MemberOptions,
  nextRestartWait,
  RESTART_FIRST_WAIT_MS,
} from "./consumer_member.ts";

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
  /**
   * Given (with `outage`) when Kafka has already answered this run, for
   * instance with the topic's partitions: a broker lost while the group is
   * still joining is then an outage as well (`outage` is told, and the join
   * is tried again with a running member's growing waits until Kafka is back
   * or this signal aborts), not a start that failed. Without it such a join
   * throws at once: a broker that never answered is most often a wrong
   * address or a broker not started, which the user should hear of in one
   * line.
   */
  joinThroughOutagesUntil?: AbortSignal;
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
/**
 * How soon a consumer joins again when Kafka says the group is rebalancing
 * (the only join error the library retries). A run's consumers join one
 * after another, each join asking the others to rejoin: with the library's
 * 1 s between tries, every start sat idle for a second before its first
 * fetch (the Java client rejoins at once).
 */
const REJOIN_DELAY_MS = 50;
/** Between tries of any other request: the library's own default. */
const RETRY_DELAY_MS = 1000;
/** A member silent this long is dropped. */
const SESSION_TIMEOUT_MS = 10_000;

/**
 * Bytes fetched per partition at once unless the config's
 * `max.partition.fetch.bytes` says otherwise. 1 MiB is two chunks of
 * 512 KiB: since each file has its own partition, the rebuild waited on the
 * broker after every second chunk (measured with kafkajs: 37 MB/s, 119 MB/s
 * with 8 MiB). Each fetch's bytes are held twice (the response, and the
 * chunks copied out of it) until V8 collects them, so fetches are not
 * bigger than the rebuild needs to keep one in flight while it works
 * (consumer_member.ts pauses at two fetches' worth waiting). 512 MiB
 * rebuilds, 3 runs each alternating (issue 22, 2026-12-04), 6 MiB paused
 * at 4 MiB waiting (before) against 2, 3 and 4 MiB paused at twice that:
 * 16 KiB 141-145, 144-149, 148-151, 146-150 MB/s, peak RSS 212-217,
 * 200-206, 211-216, 209-222 MB; 512 KiB 177-202, 197-205, 210-215,
 * 202-217 MB/s, 180-192, 165-183, 179-183, 185-190 MB. While the records
 * read are small (below 64 KiB), a member asks for at most 1 MiB instead
 * (SMALL_RECORD_FETCH_BYTES in consumer_member.ts).
 */
export const FETCH_BYTES_PER_PARTITION = 3 * 1024 * 1024;
/** Bytes fetched at once over all partitions unless `fetch.max.bytes` says otherwise. */
const FETCH_BYTES = 3 * 1024 * 1024;

/**
 * How much the rebuild's consumers fetch at once and how long a fetch waits,
 * from the config's `[consumer]` section and the defaults above (the
 * benchmark's client-alone run reads with the same).
 *
 * @example
 * ```ts
 * import { fetchOptions } from "./consumer_group.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * fetchOptions(await loadKafkaConfig("local")).maxBytes; // 3 MiB
 * ```
 */
export function fetchOptions(settings: KafkaSettings): {
  minBytes: number;
  maxBytes: number;
  maxBytesPerPartition: number;
  maxWaitTime: number;
} {
  const fetch = settings.consumer;
  return {
    minBytes: fetch.minBytes ?? 1,
    maxBytes: fetch.maxBytes ?? FETCH_BYTES,
    maxBytesPerPartition: fetch.maxBytesPerPartition ??
      FETCH_BYTES_PER_PARTITION,
    // A short fetch wait lets `quit` take effect within a second.
    maxWaitTime: fetch.maxWaitTimeInMs ?? 500,
  };
}

/**
 * How many consumers group `groupId` lists now (0 for a group Kafka does not
 * know, or when it does not answer): before this run joins, any listed are
 * another run's, e.g. one that was killed and not yet dropped.
 *
 * @example
 * ```ts
 * import type { KafkaClient } from "./client.ts";
 * declare const kafka: KafkaClient;
 * await groupMemberCount(kafka, "lab-pc-1"); // 0 for a brand-new group
 * ```
 */
export async function groupMemberCount(
  kafka: KafkaClient,
  groupId: string,
): Promise<number> {
  const admin = new Admin({ ...KafkaClient.options(kafka), retries: 1 });
  try {
    const groups = await admin.describeGroups({ groups: [groupId] });
    return groups.get(groupId)?.members.size ?? 0;
  } catch {
    return 0;
  } finally {
    await admin.close().catch(() => {});
  }
}

/** A running group of consumers. */
export class ConsumerGroup {
  #members: Member[] = [];
  readonly #options: ConsumerGroupOptions;
  readonly #kafka: KafkaClient;
  #adminClient?: Admin;
  #stopped = false;

  private constructor(kafka: KafkaClient, options: ConsumerGroupOptions) {
    this.#kafka = kafka;
    this.#options = options;
  }

  /**
   * Connects, subscribes and starts every consumer; with
   * {@linkcode ConsumerGroupOptions.joinThroughOutagesUntil}, rides out a
   * broker lost meanwhile.
   */
  static async start(
    kafka: KafkaClient,
    settings: KafkaSettings,
    options: ConsumerGroupOptions,
  ): Promise<ConsumerGroup> {
    const group = new ConsumerGroup(kafka, options);
    const until = options.joinThroughOutagesUntil;
    // The same growing waits as a running member that lost Kafka.
    for (let wait = RESTART_FIRST_WAIT_MS;; wait = nextRestartWait(wait)) {
      try {
        await group.#join(settings);
        return group;
      } catch (error) {
        await group.stop();
        if (!options.outage || !until || !isConnectionLoss(error)) {
          throw brokerError(error, settings);
        }
        options.outage(error as Error);
        await sleep(wait, until);
        if (until.aborted) throw brokerError(error, settings);
        // stop() above marked the group stopped; the next try starts afresh.
        group.#stopped = false;
      }
    }
  }

  /** Makes the members and starts them all at once. */
  async #join(settings: KafkaSettings): Promise<void> {
    const options = this.#options;
    const memberOptions = consumerOptions(
      this.#kafka,
      settings,
      options.groupId,
    );
    // Fresh members each try: a stopped member does not start again.
    this.#members = Array.from(
      { length: Math.max(1, options.consumers) },
      () => new Member(this, memberOptions, settings.consumer.fromBeginning),
    );
    // Joining one by one would rebalance the group once per consumer.
    await Promise.all(this.#members.map((member) => member.start()));
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

  /** How many of this run's consumers have messages waiting now. */
  busyMembers(): number {
    return this.#members.filter((member) => member.busy).length;
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

  /**
   * Commits again where `commitPoint` now says more than was committed, on
   * partitions with no new messages (e.g. after a file holding the commit
   * back was given up).
   */
  recommit(): void {
    if (this.#stopped) return;
    for (const member of this.#members) member.recommit();
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
    ...fetchOptions(settings),
    retryDelay: (_client, operation) =>
      operation === "joinGroup" ? REJOIN_DELAY_MS : RETRY_DELAY_MS,
  };
}
