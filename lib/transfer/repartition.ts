/**
 * Files whose chunks a sender spread over partitions, rebuilt by a group of
 * reconstructors all the same: such chunks are passed on to a repartition
 * topic keyed by file, the way Kafka Streams repartitions before a groupBy.
 *
 * The project's uploaders put every chunk of a file on one partition and say
 * so in a header ({@linkcode WHOLE_FILE_HEADERS}); those chunks are rebuilt
 * where they are read, as before. Any other chunk (OpenMSIStream keys each
 * chunk on its own, so one file lands on several partitions; kcat; an older
 * uploader) is forwarded unchanged to `<topic>-<group>-by_file-repartition`,
 * to the partition its file's identity hashes to. That topic is read by a
 * second consumer group of the same members (`<group>.by_file`), so every
 * chunk of such a file reaches one member, which rebuilds it whole.
 *
 * A source partition's commit never passes a forwarded chunk Kafka has not
 * acknowledged ({@linkcode ChunkForwarder.holdBack}); before a rebalance or
 * a stop the forwarder waits for every answer ({@linkcode ChunkForwarder.settle}),
 * so nothing is lost and, without a crash, nothing is forwarded twice.
 *
 * @example
 * ```ts
 * import { ChunkForwarder, isWholeFileChunk } from "./repartition.ts";
 * import type { KafkaClient } from "../kafka/client.ts";
 * import type { KafkaSettings } from "../kafka/config.ts";
import type { ConsumerGroup, GroupStatus } from "../kafka/consumer_group.ts";
 * import type { FileChunk } from "./chunk.ts";
 * declare const kafka: KafkaClient, settings: KafkaSettings;
 * declare const chunk: FileChunk, value: Uint8Array;
 *
 * const forwarder = await ChunkForwarder.open(kafka, settings, "lecroy_files", "lab", 6);
 * if (!isWholeFileChunk(undefined)) {
 *   await forwarder.forward(chunk, value, { partition: 2, offset: "17" });
 * }
 * await forwarder.close();
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { ChunkProducer } from "../kafka/chunk_producer.ts";
import {
  chooseReplication,
  connectAdmin,
  ensureTopic,
  type KafkaClient,
} from "../kafka/client.ts";
import type { KafkaSettings } from "../kafka/config.ts";
import type { ConsumerGroup, GroupStatus } from "../kafka/consumer_group.ts";
import { type FileChunk, toHex } from "./chunk.ts";

/** The header the project's uploaders send: this file's chunks share one partition. */
export const WHOLE_FILE_HEADER = "file-on-one-partition";

/** The headers the project's uploaders put on every chunk. */
export const WHOLE_FILE_HEADERS: Record<string, string> = {
  [WHOLE_FILE_HEADER]: "1",
};

/** Bytes of the header's name, for comparing without decoding every key. */
const HEADER_BYTES = new TextEncoder().encode(WHOLE_FILE_HEADER);

/**
 * Whether a chunk message says its file's chunks share one partition (the
 * project's uploaders); any other chunk is forwarded.
 *
 * @example
 * ```ts
 * isWholeFileChunk(new Map([[new TextEncoder().encode("file-on-one-partition"), new Uint8Array([49])]])); // true
 * isWholeFileChunk(undefined); // false
 * ```
 */
export function isWholeFileChunk(
  headers: ReadonlyMap<Uint8Array, Uint8Array> | undefined,
): boolean {
  for (const key of headers?.keys() ?? []) {
    if (
      key.length === HEADER_BYTES.length &&
      key.every((b, i) => b === HEADER_BYTES[i])
    ) return true;
  }
  return false;
}

/** Characters Kafka allows in a topic name. */
const TOPIC_CHARACTERS = /[^a-zA-Z0-9._-]/g;

/**
 * The repartition topic of `topic` for consumer group `groupId` (one per
 * group, as Kafka Streams makes one per application): characters a topic
 * may not have become `_`, and a long name is cut and given a hash.
 *
 * @example
 * ```ts
 * repartitionTopic("lecroy_files", "lab-rebuild");
 * // "lecroy_files-lab-rebuild-by_file-repartition"
 * ```
 */
export function repartitionTopic(topic: string, groupId: string): string {
  const name = `${topic}-${groupId}-by_file-repartition`;
  const safe = name.replace(TOPIC_CHARACTERS, "_");
  if (safe === name && safe.length <= 200) return safe;
  const hash = toHex(createHash("sha256").update(name).digest()).slice(0, 12);
  return `${safe.slice(0, 160)}-${hash}-repartition`;
}

/**
 * The consumer group that reads the repartition topic: the members of
 * `groupId`, in a group of their own (its partitions are shared out
 * independently of the source topic's).
 *
 * @example
 * ```ts
 * repartitionGroup("lab-rebuild"); // "lab-rebuild.by_file"
 * ```
 */
export function repartitionGroup(groupId: string): string {
  return `${groupId}.by_file`;
}

/** Where a forwarded chunk was read. */
export interface SourcePlace {
  /** The source partition. */
  partition: number;
  /** The message's offset there. */
  offset: string;
}

/** Messages forwarded and not yet answered, at most, before `forward` waits. */
const MAX_UNANSWERED = 2000;

/** Passes chunks on to the repartition topic and knows which are answered. */
export class ChunkForwarder {
  readonly #producer: ChunkProducer;
  /** The repartition topic. */
  readonly topic: string;
  /** Its consumer group. */
  readonly groupId: string;
  /** Per source partition, the offsets forwarded and not yet answered, in order. */
  readonly #unanswered = new Map<number, Map<bigint, true>>();
  #count = 0;
  #waiters: (() => void)[] = [];
  #failure?: Error;
  /** Called when Kafka answered for forwarded chunks (commits can move on). */
  answered?: () => void;
  /** Chunks forwarded so far. */
  forwarded = 0;
  /** Keys are hashed (an encrypted source: no file name in plaintext). */
  readonly #hideKeys: boolean;

  private constructor(
    producer: ChunkProducer,
    topic: string,
    group: string,
    hideKeys: boolean,
  ) {
    this.#hideKeys = hideKeys;
    this.#producer = producer;
    this.topic = topic;
    this.groupId = group;
  }

  /**
   * Makes the repartition topic of `topic` for `groupId` if missing (as many
   * partitions as the source, `partitions`) and connects its producer.
   */
  static async open(
    kafka: KafkaClient,
    settings: KafkaSettings,
    topic: string,
    groupId: string,
    partitions: number,
  ): Promise<ChunkForwarder> {
    const name = repartitionTopic(topic, groupId);
    const admin = await connectAdmin(kafka, settings);
    try {
      const replication = await chooseReplication(admin, settings.topic);
      await ensureTopic(admin, name, partitions, replication);
    } finally {
      await admin.disconnect();
    }
    const producer = await ChunkProducer.start(kafka, settings, {
      topic: name,
      workers: 1,
      maxQueuedChunks: MAX_UNANSWERED,
      // Kafka away: the consumers wait it out, and so does this.
      retrySeconds: Number.POSITIVE_INFINITY,
    });
    return new ChunkForwarder(
      producer,
      name,
      repartitionGroup(groupId),
      settings.kafkacrypto !== undefined,
    );
  }

  /**
   * Forwards one chunk message (its bytes unchanged: ciphertext stays
   * ciphertext), keyed by its file (a hash of it when the config
   * encrypts, so no file name is sent in plaintext), and
   * resolves once it is queued; waits while too many are unanswered. Throws
   * if an earlier forward failed for good.
   */
  async forward(
    chunk: FileChunk,
    value: Uint8Array,
    from: SourcePlace,
  ): Promise<void> {
    if (this.#failure) throw this.#failure;
    while (this.#count >= MAX_UNANSWERED) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    const offset = BigInt(from.offset);
    let waiting = this.#unanswered.get(from.partition);
    if (!waiting) this.#unanswered.set(from.partition, waiting = new Map());
    waiting.set(offset, true);
    this.#count++;
    this.forwarded++;
    const done = () => {
      waiting!.delete(offset);
      this.#count--;
      for (const wake of this.#waiters.splice(0)) wake();
      this.answered?.();
    };
    const key = fileKey(chunk);
    await this.#producer.send({
      key: this.#hideKeys
        ? toHex(createHash("sha256").update(key).digest())
        : key,
      value,
      delivered: done,
      failed: (error) => {
        // Never answered: the source commit stays before it for good.
        this.#failure ??= error;
        this.#count--;
        for (const wake of this.#waiters.splice(0)) wake();
      },
    });
  }

  /**
   * The commit `offset` for source `partition`, held back to the first
   * forwarded chunk Kafka has not answered for.
   */
  holdBack(partition: number, offset: string): string {
    const waiting = this.#unanswered.get(partition);
    for (const first of waiting?.keys() ?? []) {
      return first < BigInt(offset) ? first.toString() : offset;
    }
    return offset;
  }

  /** Waits until Kafka answered for every chunk forwarded so far. */
  async settle(): Promise<void> {
    while (this.#count > 0 && !this.#failure) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Sends what is queued, then disconnects. */
  async close(): Promise<void> {
    await this.#producer.close();
  }
}

/**
 * The status of the source group with the repartition group's lag added:
 * "group lag 0" then means both topics are committed to their ends.
 *
 * @example
 * ```ts
 * import type { ConsumerGroup } from "../kafka/consumer_group.ts";
 * declare const group: ConsumerGroup, byFile: ConsumerGroup;
 *
 * const { owned, lag } = await withByFileLag(group, byFile).status();
 * ```
 */
export function withByFileLag(
  source: Pick<ConsumerGroup, "status">,
  byFile: Pick<ConsumerGroup, "status"> | undefined,
): Pick<ConsumerGroup, "status"> {
  if (!byFile) return source;
  return {
    status: async (): Promise<GroupStatus> => {
      const [own, other] = await Promise.all([
        source.status(),
        byFile.status(),
      ]);
      const lag = own.lag === undefined || other.lag === undefined
        ? undefined
        : own.lag + other.lag;
      return { owned: own.owned, lag };
    },
  };
}

/**
 * A function that asks `group` to commit again a moment later (once per
 * moment however often it is called): forwarded chunks Kafka just answered
 * for no longer hold their source partitions' commits back.
 *
 * @example
 * ```ts
 * import type { ConsumerGroup } from "../kafka/consumer_group.ts";
 * declare const group: ConsumerGroup, forwarder: ChunkForwarder;
 *
 * forwarder.answered = recommitSoon(group);
 * ```
 */
export function recommitSoon(
  group: Pick<ConsumerGroup, "recommit">,
  delayMs = 200,
): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      group.recommit();
    }, delayMs);
  };
}

/** The key of a forwarded chunk: its file version (path and whole-file hash). */
function fileKey(chunk: FileChunk): string {
  const hash = toHex(chunk.fileHash.subarray(0, 16));
  return `${chunk.subdir}/${chunk.filename}${chunk.filenameAppend}#${hash}`;
}
