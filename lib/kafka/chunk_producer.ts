/**
 * Parallel producers that send chunk messages to Kafka and report each
 * delivery.
 *
 * `--n_threads` producers (@platformatic/kafka, each with its own
 * connections) take messages from one {@linkcode StreamQueue}. A producer
 * collects messages into a batch of up to `batch.size` bytes, waiting at most
 * `linger.ms` for more (the library sends what it is given at once, so this
 * module does what librdkafka and Java's producer do), sends it as one produce
 * request per leader, and waits for the acknowledgement from all in-sync
 * replicas (acks=all unless the config says otherwise). The library retries a
 * request the config's `retries` times; a batch that still fails is sent
 * again for `--retry_seconds`, and then every message in it not yet
 * acknowledged is reported as failed, never silently dropped. A send counts
 * only for the partitions Kafka answered for (see
 * {@linkcode ChunkProducer.start}). Partitions are chosen as Kafka's Java
 * client chooses them ({@linkcode javaKeyHash}).
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
  CompressionAlgorithms,
  type CompressionAlgorithmValue,
  type MessageToProduce,
  murmur2,
  Producer,
  type ProduceResult,
} from "@platformatic/kafka";
import { StreamQueue } from "../common/stream_queue.ts";
import {
  BIG_RECORD_BYTES,
  oldGarbage,
  SENT_GARBAGE_BYTES,
  youngGarbage,
} from "../common/buffer_memory.ts";
import { describeError } from "../common/cli.ts";
import { KafkaClient, withReachableBroker } from "./client.ts";
import type { KafkaSettings, ProducerSettings } from "./config.ts";

/** @platformatic/kafka's names for the compression settings of the config file. */
const COMPRESSION: Record<
  ProducerSettings["compression"],
  CompressionAlgorithmValue
> = {
  none: CompressionAlgorithms.NONE,
  gzip: CompressionAlgorithms.GZIP,
  lz4: CompressionAlgorithms.LZ4,
  snappy: CompressionAlgorithms.SNAPPY,
  zstd: CompressionAlgorithms.ZSTD,
};

/**
 * Message bytes that may wait to be sent, by default: 1 MiB. The file is
 * read far faster than Kafka takes it, so a short queue keeps the producers
 * fed; what waits here, and the client's copies of the batches made from
 * it, wait for V8's next full collection (issue 22). Peak RSS of a 512 MiB
 * upload at 512 KiB (3 runs each, alternating): 16 MiB 164-217 MB, 4 MiB
 * 151-160, 2 MiB 147-157, 1 MiB 144-147, at the same speed and CPU time.
 */
export const QUEUED_BYTES = 1024 * 1024;

/** One message on its way, with what to do when Kafka answers. */
export interface OutgoingMessage {
  /** The message key. */
  key: string;
  /** The message value. */
  value: Uint8Array;
  /**
   * The key bytes sent instead of `key` (its encryption); `key` still
   * picks the partition.
   */
  wireKey?: Uint8Array;
  /**
   * Called once Kafka acknowledged the message, with its partition and
   * offset (undefined with acks=0: Kafka then answers nothing).
   */
  delivered: (at?: { partition: number; offset: number }) => void;
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
  /** Bytes that may wait in memory; default {@linkcode QUEUED_BYTES}. */
  maxQueuedBytes?: number;
  /**
   * How long a batch Kafka did not acknowledge (broker away, leader moving)
   * is sent again before its messages fail; default 0 (no retries beyond the
   * config's `retries`). Errors that a retry cannot cure fail at once.
   */
  retrySeconds?: number;
  /** Called once per outage, when a batch failed twice, with when it gives up. */
  retrying?: (error: Error, giveUpAt: Date) => void;
  /**
   * Called once per outage instead of {@linkcode retrying} when a send got no
   * answer at all for {@linkcode STALL_WARNING_MS} (a lost broker stalls a
   * send until the library's timeouts end it, a minute or more), with how
   * long it waited and when it gives up.
   */
  stalled?: (waitedMs: number, giveUpAt: Date) => void;
  /** Called when a send succeeds again after {@linkcode retrying} or {@linkcode stalled}. */
  recovered?: () => void;
  /**
   * The part of a key that picks the partition (e.g. the file part of a
   * chunk key, so every chunk of one file lands on one partition while files
   * still spread over all); default the whole key. Keys are sent unchanged.
   */
  partitionKey?: (key: string) => string;
  /** Headers every message carries (e.g. that a file's chunks share a partition). */
  headers?: Record<string, string>;
  /**
   * Encrypts each message's key and value as it is queued (end-to-end
   * encryption, lib/transfer/transfer_crypto.ts); the partition is still
   * chosen from the plain key.
   */
  seal?: (
    key: string,
    value: Uint8Array,
  ) => Promise<{ key: Uint8Array; value: Uint8Array }>;
}

/**
 * Kafka's default choice of partition before the modulo, as the Java client
 * makes it: the murmur2 hash of the key's UTF-8 bytes, made positive by
 * clearing the sign bit. The partition is this modulo the partition count.
 *
 * @example
 * ```ts
 * javaKeyHash("a.txt") % 5; // the partition Java's producer picks for "a.txt"
 * ```
 */
export function javaKeyHash(key: string): number {
  // The cache helps: every chunk of one file hashes the same file part.
  return murmur2(key, true) & 0x7fffffff;
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
): Pick<ChunkProducerOptions, "retrying" | "recovered" | "stalled"> {
  const until = (giveUpAt: Date) =>
    `retrying until ${giveUpAt.toTimeString().slice(0, 8)} (--retry_seconds)`;
  return {
    retrying: (error, giveUpAt) =>
      log.warn(
        `Kafka did not acknowledge chunks (${describeError(error)}); ${
          until(giveUpAt)
        }`,
      ),
    stalled: (waitedMs, giveUpAt) =>
      log.warn(
        `Kafka did not acknowledge chunks (no answer for ${
          Math.round(waitedMs / 1000)
        } s: is a broker down?); waiting, ${until(giveUpAt)}`,
      ),
    recovered: () => log.info("Kafka acknowledges chunks again; going on"),
  };
}

/**
 * A send without an answer for this long is an outage the user hears of at
 * once, not when the library gives up on it (a minute or more later).
 */
export const STALL_WARNING_MS = 5000;

/** Waits between two tries of a batch grow from 0.5 s to at most this. */
const MAX_RETRY_WAIT_MS = 5000;

/**
 * The library's own pause between its retries of one request (it retries the
 * config's `retries` times): short, so a broker that is away shows soon as a
 * failed send, which {@linkcode ChunkProducer} then retries for
 * `--retry_seconds`.
 */
const LIBRARY_RETRY_DELAY_MS = 250;

/** Kafka error codes a resend cannot cure. */
const FINAL_ERRORS = new Set([
  "MESSAGE_TOO_LARGE",
  "INVALID_TOPIC_EXCEPTION",
  "TOPIC_AUTHORIZATION_FAILED",
  "RECORD_LIST_TOO_LARGE",
  "CLUSTER_AUTHORIZATION_FAILED",
  "SASL_AUTHENTICATION_FAILED",
  "INVALID_RECORD",
  "CORRUPT_MESSAGE",
]);

/** The library's error codes that a resend cannot cure (a bad login, a misuse). */
const FINAL_LIBRARY_CODES = new Set(["PLT_KFK_AUTHENTICATION", "PLT_KFK_USER"]);

/** What this module reads from an error and the errors it wraps. */
interface ErrorFacts {
  name?: string;
  message?: string;
  code?: string;
  apiId?: string;
  canRetry?: boolean;
  retriable?: boolean;
  closed?: boolean;
  cause?: unknown;
  errors?: unknown[];
}

/**
 * `error` and every error it wraps (`cause`, the `errors` of an
 * AggregateError), outermost first; at most 50.
 */
function errorTree(error: unknown): ErrorFacts[] {
  const found: ErrorFacts[] = [];
  const pending: unknown[] = [error];
  while (pending.length > 0 && found.length < 50) {
    const next = pending.shift();
    if (!next || typeof next !== "object" || found.includes(next)) continue;
    const facts = next as ErrorFacts;
    found.push(facts);
    pending.push(facts.cause, ...(facts.errors ?? []));
  }
  return found;
}

/**
 * Whether resending may cure an error: a lost connection, a timeout, a
 * leader or coordinator that moved. A message too large, a bad topic,
 * missing rights, a failed login or a closed producer are final. Looks
 * through the errors @platformatic/kafka nests (`cause`, `errors`; its own
 * verdict is `canRetry`).
 *
 * @example
 * ```ts
 * isRetriable(new Error("Connection error: connect ECONNREFUSED")); // true
 * ```
 */
export function isRetriable(error: unknown): boolean {
  const tree = errorTree(error);
  const final = tree.some((e) =>
    FINAL_ERRORS.has(e.apiId ?? "") ||
    FINAL_LIBRARY_CODES.has(e.code ?? "") || e.closed === true
  );
  if (final) return false;
  if (
    tree.some((e) => e.canRetry === true || e.retriable === true)
  ) return true;
  return tree.some((e) =>
    /ECONNREFUSED|ECONNRESET|EPIPE|Connection error|timed? ?out/i.test(
      String(e.message ?? ""),
    )
  );
}

/**
 * The innermost error that says what went wrong (a refused connection rather
 * than "produce failed 9 times"), for the outage warning.
 */
function rootCause(error: Error): Error {
  let cause: unknown = error;
  for (let depth = 0; depth < 10; depth++) {
    const facts = cause as ErrorFacts;
    const inner = facts.cause ?? facts.errors?.at(-1);
    if (!(inner instanceof Error)) break;
    cause = inner;
  }
  return cause as Error;
}

/**
 * Messages of a send that Kafka's answer did not cover (see
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

/** A queued message with what the library sends for it. */
interface Pending {
  /** The caller's message. */
  message: OutgoingMessage;
  /** The record for the library (key and value as Buffers, no copy). */
  record: MessageToProduce<Buffer, Buffer, Buffer, Buffer>;
  /** Its partition before the modulo (see {@linkcode javaKeyHash}). */
  hash: number;
}

/** Sends queued messages with several producers in parallel. */
export class ChunkProducer {
  readonly #queue: StreamQueue<OutgoingMessage>;
  readonly #producers: Producer<Buffer, Buffer, Buffer, Buffer>[];
  readonly #workers: Promise<void>[];
  readonly #options: ChunkProducerOptions;
  /** Headers every message carries, if any. */
  #headers?: Map<Buffer, Buffer>;
  /** When the current outage started; undefined while sends succeed. */
  #outageSince?: number;
  /** Whether the user was told about the current outage. */
  #warned = false;
  /** Producers whose last send failed: the outage lasts while any is. */
  readonly #failing = new Set<object>();
  /** The queue's one taker: only the producer gathering a batch takes. */
  readonly #take: (timeoutMs?: number) => Promise<OutgoingMessage | undefined>;
  /** Resolves when the producer gathering a batch now is done with it. */
  #gathering: Promise<void> = Promise.resolve();
  /** The message that did not fit the last batch: the next one starts with it. */
  #carried?: OutgoingMessage;

  private constructor(
    producers: Producer<Buffer, Buffer, Buffer, Buffer>[],
    settings: KafkaSettings,
    options: ChunkProducerOptions,
  ) {
    this.#producers = producers;
    this.#queue = new StreamQueue<OutgoingMessage>({
      maxItems: options.maxQueuedChunks,
      maxBytes: options.maxQueuedBytes ?? QUEUED_BYTES,
      sizeOf: (message) => message.value.length,
    });
    this.#take = this.#queue.taker();
    this.#options = options;
    if (options.headers) {
      this.#headers = new Map(
        Object.entries(options.headers).map((
          [k, v],
        ) => [Buffer.from(k), Buffer.from(v)]),
      );
    }
    this.#workers = producers.map((producer) =>
      this.#work(producer, settings, options.topic)
    );
  }

  /**
   * Connects `options.workers` producers and starts them.
   *
   * Each message's partition is chosen here, as Kafka's Java client chooses
   * it ({@linkcode javaKeyHash} of `partitionKey(key)`, modulo the partition
   * count). A send is acknowledged only for the partitions in Kafka's answer
   * (the offsets it returned); the rest is sent again. kafkajs 2.2.4 once
   * resolved sends it had not fully sent (tulios/kafkajs#1303); the check
   * stays, whatever the library, so no chunk counts as delivered unanswered.
   */
  static async start(
    kafka: KafkaClient,
    settings: KafkaSettings,
    options: ChunkProducerOptions,
  ): Promise<ChunkProducer> {
    const { acks, compression, retries } = settings.producer;
    const producers = Array.from(
      { length: Math.max(1, options.workers) },
      () =>
        new Producer<Buffer, Buffer, Buffer, Buffer>({
          ...KafkaClient.options(kafka),
          acks,
          compression: COMPRESSION[compression] ?? CompressionAlgorithms.NONE,
          retries,
          retryDelay: LIBRARY_RETRY_DELAY_MS,
          autocreateTopics: false,
        }),
    );
    try {
      // Connects and learns the topic's partitions: a broker that cannot be
      // reached is one line here, not a failed chunk later.
      await withReachableBroker(
        settings,
        () =>
          Promise.all(
            producers.map((p) => p.metadata({ topics: [options.topic] })),
          ),
      );
    } catch (error) {
      await Promise.allSettled(producers.map((p) => p.close()));
      throw error;
    }
    return new ChunkProducer(producers, settings, options);
  }

  /** Messages waiting in memory now. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Queues a message (sealed first, with {@linkcode ChunkProducerOptions.seal});
   * waits while the queue is full (back-pressure).
   */
  async send(message: OutgoingMessage): Promise<void> {
    const seal = this.#options.seal;
    if (!seal) return await this.#queue.put(message);
    const sealed = await seal(message.key, message.value);
    await this.#queue.put({
      ...message,
      value: sealed.value,
      wireKey: sealed.key,
    });
  }

  /** Sends what is queued, then disconnects. */
  async close(): Promise<void> {
    this.#queue.close();
    await Promise.all(this.#workers);
    await Promise.all(this.#producers.map((p) => p.close()));
  }

  /**
   * Sends one batch; while the error is retriable and the outage is younger
   * than `retrySeconds`, waits and sends again what Kafka has not
   * acknowledged. Each message is reported once: delivered as soon as an
   * answer covers its partition, failed with the final error. (A message
   * sent twice can arrive twice; the reconstructor ignores duplicate chunks.)
   */
  async #sendWithRetries(
    producer: Producer<Buffer, Buffer, Buffer, Buffer>,
    batch: Pending[],
    acks: number,
  ): Promise<void> {
    const retryMs = (this.#options.retrySeconds ?? 0) * 1000;
    let wait = 500;
    let unsent = batch;
    for (let attempt = 1;; attempt++) {
      let failure: unknown;
      const stallTimer = this.#watchForStall(producer, retryMs);
      try {
        // acks on every send: the library's send() ignores the producer's.
        const answer = await producer.send({
          messages: unsent.map((p) => p.record),
          acks,
        }).finally(() => clearTimeout(stallTimer));
        countAnsweredGarbage(unsent);
        unsent = this.#settle(producer, unsent, answer, acks);
        if (unsent.length > 0) failure = new UnsentMessagesError(unsent.length);
      } catch (error) {
        failure = error;
        // What Kafka did take before the error counts as delivered.
        const produced = (error as { produced?: ProduceResult }).produced;
        if (produced?.offsets) {
          unsent = this.#settle(producer, unsent, produced, acks);
        }
      }
      if (failure === undefined || unsent.length === 0) {
        this.#succeeded(producer);
        return;
      }
      const error = failure instanceof Error
        ? failure
        : new Error(String(failure));
      if (!isRetriable(error)) {
        // No outage: nothing to wait for (a stall noted for it ends here).
        this.#failing.delete(producer);
        for (const { message } of unsent) message.failed(error);
        return;
      }
      if (this.#outageTooLong(producer, error, attempt, retryMs)) {
        for (const { message } of unsent) message.failed(error);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, MAX_RETRY_WAIT_MS);
    }
  }

  /**
   * Reports the messages of `sent` whose partition Kafka's `answer` covers as
   * delivered; returns the others (none with acks=0: Kafka answers nothing).
   */
  #settle(
    producer: Producer<Buffer, Buffer, Buffer, Buffer>,
    sent: Pending[],
    answer: ProduceResult,
    acks: number,
  ): Pending[] {
    if (acks === 0) {
      for (const { message } of sent) message.delivered();
      return [];
    }
    const partitions = producer.currentMetadata?.topics.get(this.#options.topic)
      ?.partitionsCount ?? 0;
    // Each answered partition's base offset: its messages follow in order.
    const next = new Map(
      (answer.offsets ?? []).filter((o) => o.topic === this.#options.topic)
        .map((o) => [o.partition, Number(o.offset)]),
    );
    const rest: Pending[] = [];
    for (const pending of sent) {
      const partition = partitions > 0 ? pending.hash % partitions : -1;
      const offset = next.get(partition);
      if (offset !== undefined) {
        next.set(partition, offset + 1);
        pending.message.delivered({ partition, offset });
      } else rest.push(pending);
    }
    return rest;
  }

  /**
   * Warns (once per outage) if the send `producer` starts now gets no answer
   * for {@linkcode STALL_WARNING_MS}; the outage counts from the send's start.
   * Returns the timer, cleared when the send ends.
   */
  #watchForStall(
    producer: object,
    retryMs: number,
  ): ReturnType<typeof setTimeout> {
    const startedAt = Date.now();
    return setTimeout(() => {
      this.#failing.add(producer);
      this.#outageSince ??= startedAt;
      if (this.#warned) return;
      this.#warned = true;
      this.#options.stalled?.(
        Date.now() - startedAt,
        new Date(this.#outageSince + retryMs),
      );
    }, STALL_WARNING_MS);
  }

  /** A send went through: the outage is over once no producer is failing. */
  #succeeded(producer: object): void {
    this.#failing.delete(producer);
    if (this.#failing.size === 0) {
      this.#outageSince = undefined;
      if (this.#warned) {
        this.#warned = false;
        this.#options.recovered?.();
      }
    }
  }

  /**
   * Notes a failed try of a retriable error (warning once per outage, from
   * the second failure on); true when the outage outlasted `retryMs` and the
   * batch fails (the next one starts a fresh count, and fails at once while
   * the outage lasts).
   */
  #outageTooLong(
    producer: object,
    error: Error,
    attempt: number,
    retryMs: number,
  ): boolean {
    this.#failing.add(producer);
    this.#outageSince ??= Date.now();
    // A connection found dead once and fine on the next try is no outage
    // worth a line; a second failure is.
    if (attempt >= 2 && !this.#warned) {
      this.#warned = true;
      this.#options.retrying?.(
        rootCause(error),
        new Date(this.#outageSince + retryMs),
      );
    }
    if (Date.now() - this.#outageSince >= retryMs) {
      this.#failing.delete(producer);
      return true;
    }
    return false;
  }

  /** One producer's loop: take a batch, send it, report, repeat. */
  async #work(
    producer: Producer<Buffer, Buffer, Buffer, Buffer>,
    settings: KafkaSettings,
    topic: string,
  ): Promise<void> {
    const { batchBytes, lingerMs, acks } = settings.producer;
    const partitionKey = this.#options.partitionKey ?? ((key: string) => key);
    while (true) {
      const batch = await this.#gather(batchBytes, lingerMs);
      if (batch === undefined) return;
      await this.#sendWithRetries(
        producer,
        batch.map((message) =>
          toPending(message, topic, partitionKey, this.#headers)
        ),
        acks,
      );
    }
  }

  /**
   * The next batch: queued messages in order, up to `batchBytes`, waiting at
   * most `lingerMs` for more; undefined once the queue is closed and empty.
   * One producer gathers at a time (the others send meanwhile), so a batch
   * holds messages that follow one another: a file's chunks land on its
   * partition in runs of a batch (61 chunks of 16 KiB), which the
   * reconstructor writes in one go. Taken in turns by all producers, they
   * were every fifth chunk, and the rebuild wrote 31,811 of a 512 MiB file's
   * 32,768 chunks one by one (issue 22).
   */
  async #gather(
    batchBytes: number,
    lingerMs: number,
  ): Promise<OutgoingMessage[] | undefined> {
    const before = this.#gathering;
    let done!: () => void;
    this.#gathering = new Promise((resolve) => done = resolve);
    await before;
    try {
      const first = this.#carried ?? await this.#take();
      this.#carried = undefined;
      if (first === undefined) return undefined;
      const batch = [first];
      let bytes = first.value.length;
      const lingerUntil = Date.now() + lingerMs;
      while (bytes < batchBytes) {
        // Messages already queued arrive before even a 0 ms timer fires; a
        // take that outlasts linger.ms keeps its place for the next batch.
        const next = await this.#take(Math.max(0, lingerUntil - Date.now()));
        if (next === undefined) break;
        if (bytes + next.value.length > batchBytes) {
          this.#carried = next;
          break;
        }
        batch.push(next);
        bytes += next.value.length;
      }
      return batch;
    } finally {
      done();
    }
  }
}

/**
 * Counts an answered request's records as garbage. The client's copies of
 * its big records ({@linkcode BIG_RECORD_BYTES}) are garbage once Kafka
 * answered, and young: after every 2 MiB of them (SENT_GARBAGE_BYTES), a
 * young collection gives their memory back (buffer_memory.ts). With the
 * tasks' 4 MB young generation, collections are otherwise rarer than with 1
 * MB, and 512 KiB uploads peaked higher: 512 MiB
 * at 512 KiB 199-204 MB, with these collections 146-147 (151-153 with 1 MB and
 * none); 16 KiB 139-140 MB either way (150-153 with 1 MB) (issue 22,
 * 2026-12-04; the README's Benchmark section). Every record counts towards
 * the old generation's check too (`oldGarbage`).
 */
function countAnsweredGarbage(batch: Pending[]): void {
  let bytes = 0;
  for (const { record } of batch) {
    const size = record.value?.byteLength ?? 0;
    if (size >= BIG_RECORD_BYTES) bytes += size;
  }
  if (bytes > 0) youngGarbage(bytes, SENT_GARBAGE_BYTES);
  oldGarbage(batch.length);
}

/** The record the library sends for `message`, with its partition chosen. */
function toPending(
  message: OutgoingMessage,
  topic: string,
  partitionKey: (key: string) => string,
  headers: Map<Buffer, Buffer> | undefined,
): Pending {
  const hash = javaKeyHash(partitionKey(message.key));
  const { value } = message;
  return {
    message,
    hash,
    record: {
      topic,
      // The library takes this modulo the partition count, as Java does.
      partition: hash,
      key: message.wireKey
        ? Buffer.from(
          message.wireKey.buffer,
          message.wireKey.byteOffset,
          message.wireKey.length,
        )
        : Buffer.from(message.key),
      value: Buffer.from(value.buffer, value.byteOffset, value.length),
      ...(headers ? { headers } : {}),
    },
  };
}
