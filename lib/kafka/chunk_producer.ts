/**
 * Parallel producers that send chunk messages to Kafka and report each
 * delivery.
 *
 * `--n_threads` producers (each with its own connection) take messages from
 * one {@linkcode StreamQueue}. A producer collects messages into a batch of up
 * to `batch.size` bytes, waiting at most `linger.ms` for more (kafkajs has no
 * such settings, so this module does what librdkafka did), sends it, and waits
 * for the acknowledgement from all in-sync replicas. kafkajs retries retriable
 * errors; if a batch still fails, every message in it is reported as failed,
 * never silently dropped. A send counts only for the partitions Kafka answered
 * for (see {@linkcode ChunkProducer.start}: kafkajs can skip some).
 *
 * @example
 * ```ts
 * import { ChunkProducer } from "./chunk_producer.ts";
 * import type { KafkaClient } from "./client.ts";
 * import type { KafkaSettings } from "./config.ts";
 * declare const kafka: KafkaClient, settings: KafkaSettings, bytes: Uint8Array;
 *
 * const producer = await ChunkProducer.start(kafka, settings, {
 *   topic: "lecroy_files", workers: 5, maxQueuedChunks: 3000,
 * });
 * await producer.send({
 *   key: "a.txt_chunk_1_of_1", value: bytes,
 *   delivered: () => console.log("acked"), failed: (e) => console.error(e),
 * });
 * await producer.close(); // waits until everything queued is delivered or failed
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  CompressionTypes,
  type ICustomPartitioner,
  type PartitionerArgs,
  Partitioners,
  type Producer,
  type RecordMetadata,
} from "kafkajs";
import { StreamQueue } from "../common/stream_queue.ts";
import { describeError } from "../common/cli.ts";
import { KafkaClient, withReachableBroker } from "./client.ts";
import type { KafkaSettings, ProducerSettings } from "./config.ts";

/** kafkajs' names for the compression settings of the config file. */
const COMPRESSION: Record<ProducerSettings["compression"], CompressionTypes> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  lz4: CompressionTypes.LZ4,
  snappy: CompressionTypes.Snappy,
  zstd: CompressionTypes.ZSTD,
};

/** One message on its way, with what to do when Kafka answers. */
export interface OutgoingMessage {
  /** The message key. */
  key: string;
  /** The message value. */
  value: Uint8Array;
  /** Called once Kafka acknowledged the message. */
  delivered: () => void;
  /** Called if it could not be delivered after the retries. */
  failed: (error: Error) => void;
}

/** Where and how hard to produce. */
export interface ChunkProducerOptions {
  /** The topic to produce to. */
  topic: string;
  /** Parallel producers (`--n_threads`). */
  workers: number;
  /** Messages that may wait in memory (`--queue_max_size`). */
  maxQueuedChunks: number;
  /** Bytes that may wait in memory; default 16 MiB. */
  maxQueuedBytes?: number;
  /**
   * How long a batch Kafka did not acknowledge (broker away, leader moving)
   * is sent again before its messages fail; default 0 (no retries beyond the
   * config's `retries`). Errors that a retry cannot cure fail at once.
   */
  retrySeconds?: number;
  /** Called once per outage, when a batch failed twice, with when it gives up. */
  retrying?: (error: Error, giveUpAt: Date) => void;
  /** Called when a send succeeds again after {@linkcode retrying}. */
  recovered?: () => void;
  /**
   * The part of a key that picks the partition (e.g. the file part of a
   * chunk key, so every chunk of one file lands on one partition while files
   * still spread over all); default the whole key. Keys are sent unchanged.
   */
  partitionKey?: (key: string) => string;
}

/**
 * Kafka's default choice of partition (murmur2 of the key, as the Java
 * client does), made on `partitionKey(key)` instead of the whole key.
 */
function partitionerOn(
  partitionKey: (key: string) => string,
): ICustomPartitioner {
  return () => {
    const byHash = Partitioners.DefaultPartitioner();
    return (args: PartitionerArgs): number => {
      const key = args.message.key;
      if (key === null || key === undefined) return byHash(args);
      return byHash({
        ...args,
        message: { ...args.message, key: partitionKey(key.toString()) },
      });
    };
  };
}

/**
 * The `retrying` and `recovered` callbacks that tell a user about an outage
 * in two lines: one warning when it starts, one line when it is over.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 *
 * const log = new Logger({ style: "bracket", program: "upload_data_file" });
 * const options = { topic: "lecroy_files", workers: 5, maxQueuedChunks: 3000,
 *   retrySeconds: 60, ...retryReporter(log) };
 * ```
 */
export function retryReporter(
  log: { warn(message: string): void; info(message: string): void },
): Pick<ChunkProducerOptions, "retrying" | "recovered"> {
  return {
    retrying: (error, giveUpAt) =>
      log.warn(
        `Kafka did not acknowledge chunks (${
          describeError(error)
        }); retrying until ${
          giveUpAt.toTimeString().slice(0, 8)
        } (--retry_seconds)`,
      ),
    recovered: () => log.info("Kafka acknowledges chunks again; going on"),
  };
}

/** Waits between two tries of a batch grow from 0.5 s to at most this. */
const MAX_RETRY_WAIT_MS = 5000;

/**
 * Whether resending may cure an error: a lost connection, a timeout, a
 * leader or coordinator that moved. A message too large, a bad topic or
 * missing rights are final.
 *
 * @example
 * ```ts
 * isRetriable(new Error("Connection error: connect ECONNREFUSED")); // true
 * ```
 */
export function isRetriable(error: unknown): boolean {
  let cause: unknown = error;
  for (let depth = 0; cause && depth < 5; depth++) {
    const { name, retriable, type } = cause as {
      name?: string;
      retriable?: boolean;
      type?: string;
    };
    if (
      type === "MESSAGE_TOO_LARGE" || type === "INVALID_TOPIC_EXCEPTION" ||
      type === "TOPIC_AUTHORIZATION_FAILED" || type === "RECORD_LIST_TOO_LARGE"
    ) return false;
    if (
      name === "KafkaJSConnectionError" ||
      name === "KafkaJSConnectionClosedError" ||
      name === "KafkaJSRequestTimeoutError" ||
      name === "KafkaJSBrokerNotFound" ||
      name === "KafkaJSMetadataNotLoaded" || retriable === true
    ) return true;
    const next = cause as { cause?: unknown; originalError?: unknown };
    cause = next.originalError ?? next.cause;
  }
  return /ECONNREFUSED|ECONNRESET|EPIPE|Connection error|timed? ?out/i.test(
    String((error as Error)?.message ?? error),
  );
}

/**
 * Messages of a send that kafkajs resolved without sending them (see
 * {@linkcode ChunkProducer.start}); retriable: they are sent again.
 */
class UnsentMessagesError extends Error {
  /** Read by {@linkcode isRetriable}. */
  readonly retriable = true;
  /** `count` messages got no answer from Kafka. */
  constructor(count: number) {
    super(
      `${count} message(s) got no answer from Kafka (a partition leader moved)`,
    );
    this.name = "UnsentMessagesError";
  }
}

/** The `choose` partitioner, also noting in `chosen` each message's partition. */
function notingPartitioner(
  chosen: WeakMap<object, number>,
  choose: ICustomPartitioner,
): ICustomPartitioner {
  return () => {
    const partitioner = choose();
    return (args) => {
      const partition = partitioner(args);
      chosen.set(args.message, partition);
      return partition;
    };
  };
}

/** Sends queued messages with several producers in parallel. */
export class ChunkProducer {
  readonly #queue: StreamQueue<OutgoingMessage>;
  readonly #producers: Producer[];
  readonly #workers: Promise<void>[];
  readonly #options: ChunkProducerOptions;
  /** When the current outage started; undefined while sends succeed. */
  #outageSince?: number;
  /** Whether the user was told about the current outage. */
  #warned = false;
  /** Producers whose last send failed: the outage lasts while any is. */
  readonly #failing = new Set<Producer>();
  /** The partition kafkajs' partitioner chose for each message sent. */
  readonly #partitions: WeakMap<object, number>;

  private constructor(
    producers: Producer[],
    settings: KafkaSettings,
    options: ChunkProducerOptions,
    partitions: WeakMap<object, number>,
  ) {
    this.#producers = producers;
    this.#partitions = partitions;
    this.#queue = new StreamQueue<OutgoingMessage>({
      maxItems: options.maxQueuedChunks,
      maxBytes: options.maxQueuedBytes ?? 16 * 1024 * 1024,
      sizeOf: (message) => message.value.length,
    });
    this.#options = options;
    this.#workers = producers.map((producer) =>
      this.#work(producer, settings, options.topic)
    );
  }

  /**
   * Connects `options.workers` producers and starts them.
   *
   * Their partitioner notes where each message goes: kafkajs 2.2.4 can
   * resolve a send without having sent all of it. When a request to one
   * leader fails, its retry skips every broker that already answered that
   * send, so the messages of a partition whose leadership moved to such a
   * broker (a killed or restarted node) are never sent, and the send
   * succeeds (tulios/kafkajs#1303). A send is therefore acknowledged only for
   * the partitions in Kafka's answer; the rest is sent again.
   */
  static async start(
    kafka: KafkaClient,
    settings: KafkaSettings,
    options: ChunkProducerOptions,
  ): Promise<ChunkProducer> {
    const partitions = new WeakMap<object, number>();
    const producers = Array.from(
      { length: Math.max(1, options.workers) },
      () =>
        KafkaClient.kafkajs(kafka).producer({
          createPartitioner: notingPartitioner(
            partitions,
            options.partitionKey
              ? partitionerOn(options.partitionKey)
              : Partitioners.DefaultPartitioner,
          ),
          retry: { retries: settings.producer.retries },
        }),
    );
    await withReachableBroker(
      settings,
      () => Promise.all(producers.map((p) => p.connect())),
    );
    return new ChunkProducer(producers, settings, options, partitions);
  }

  /** Messages waiting in memory now. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Queues a message; waits while the queue is full (back-pressure). */
  send(message: OutgoingMessage): Promise<void> {
    return this.#queue.put(message);
  }

  /** Sends what is queued, then disconnects. */
  async close(): Promise<void> {
    this.#queue.close();
    await Promise.all(this.#workers);
    await Promise.all(this.#producers.map((p) => p.disconnect()));
  }

  /**
   * Sends one batch; while the error is retriable and the outage is younger
   * than `retrySeconds`, waits and sends it again. Returns the final error,
   * or undefined once Kafka acknowledged the batch. (A batch sent twice can
   * arrive twice; the reconstructor ignores duplicate chunks.) Messages that
   * kafkajs left unsent are sent again, alone.
   */
  async #sendWithRetries(
    producer: Producer,
    record: Parameters<Producer["send"]>[0],
  ): Promise<Error | undefined> {
    const retryMs = (this.#options.retrySeconds ?? 0) * 1000;
    let wait = 500;
    for (let attempt = 1;; attempt++) {
      try {
        const unsent = this.#unanswered(record, await producer.send(record));
        if (unsent.length > 0) {
          record = { ...record, messages: unsent };
          throw new UnsentMessagesError(unsent.length);
        }
        this.#failing.delete(producer);
        // The outage is over once no producer is failing any more.
        if (this.#failing.size === 0) {
          this.#outageSince = undefined;
          if (this.#warned) {
            this.#warned = false;
            this.#options.recovered?.();
          }
        }
        return undefined;
      } catch (error) {
        if (!isRetriable(error)) return error as Error;
        this.#failing.add(producer);
        this.#outageSince ??= Date.now();
        // A connection found dead once and fine on the next try is no
        // outage worth a line; a second failure is.
        if (attempt >= 2 && !this.#warned) {
          this.#warned = true;
          this.#options.retrying?.(
            error as Error,
            new Date(this.#outageSince + retryMs),
          );
        }
        if (Date.now() - this.#outageSince >= retryMs) {
          // Given up: this batch fails; the next one starts a fresh count
          // (and fails at once while the outage lasts).
          this.#failing.delete(producer);
          return error as Error;
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(wait * 2, MAX_RETRY_WAIT_MS);
      }
    }
  }

  /**
   * The messages of `record` in partitions that Kafka's answer leaves out
   * (none with acks=0: Kafka answers nothing then).
   */
  #unanswered(
    record: Parameters<Producer["send"]>[0],
    answer: RecordMetadata[],
  ): Parameters<Producer["send"]>[0]["messages"] {
    if (record.acks === 0) return [];
    const answered = new Set(answer.map((a) => a.partition));
    return record.messages.filter((message) =>
      !answered.has(this.#partitions.get(message) ?? -1)
    );
  }

  /** One producer's loop: take a batch, send it, report, repeat. */
  async #work(
    producer: Producer,
    settings: KafkaSettings,
    topic: string,
  ): Promise<void> {
    const { batchBytes, lingerMs, acks, compression } = settings.producer;
    // This producer's own taker: a take that outlasts linger.ms keeps its
    // place, and its message starts the next batch.
    const take = this.#queue.taker();
    // A message that would make a batch too big starts the next one.
    let carried: OutgoingMessage | undefined;
    while (true) {
      const first = carried ?? await take();
      carried = undefined;
      if (first === undefined) return;
      const batch = [first];
      let bytes = first.value.length;
      const lingerUntil = Date.now() + lingerMs;
      while (bytes < batchBytes) {
        // Messages already queued arrive before even a 0 ms timer fires.
        const next = await take(Math.max(0, lingerUntil - Date.now()));
        if (next === undefined) break;
        if (bytes + next.value.length > batchBytes) {
          carried = next;
          break;
        }
        batch.push(next);
        bytes += next.value.length;
      }
      const error = await this.#sendWithRetries(producer, {
        topic,
        acks,
        compression: COMPRESSION[compression],
        messages: batch.map((m) => ({
          key: m.key,
          value: Buffer.from(
            m.value.buffer,
            m.value.byteOffset,
            m.value.length,
          ),
        })),
      });
      if (error) {
        for (const message of batch) message.failed(error);
      } else {
        for (const message of batch) message.delivered();
      }
    }
  }
}
