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
 * never silently dropped.
 *
 * @example
 * ```ts
 * import { ChunkProducer } from "./chunk_producer.ts";
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
import { type Kafka, Partitioners, type Producer } from "kafkajs";
import { StreamQueue } from "../common/stream_queue.ts";
import { compressionType, withReachableBroker } from "./client.ts";
import type { KafkaSettings } from "./config.ts";

/** One message on its way, with what to do when Kafka answers. */
export interface OutgoingMessage {
  key: string;
  value: Uint8Array;
  /** Called once Kafka acknowledged the message. */
  delivered: () => void;
  /** Called if it could not be delivered after the retries. */
  failed: (error: Error) => void;
}

/** Where and how hard to produce. */
export interface ChunkProducerOptions {
  topic: string;
  /** Parallel producers (`--n_threads`). */
  workers: number;
  /** Messages that may wait in memory (`--queue_max_size`). */
  maxQueuedChunks: number;
  /** Bytes that may wait in memory; default 16 MiB. */
  maxQueuedBytes?: number;
}

/** Sends queued messages with several producers in parallel. */
export class ChunkProducer {
  readonly #queue: StreamQueue<OutgoingMessage>;
  readonly #producers: Producer[];
  readonly #workers: Promise<void>[];

  private constructor(
    producers: Producer[],
    settings: KafkaSettings,
    options: ChunkProducerOptions,
  ) {
    this.#producers = producers;
    this.#queue = new StreamQueue<OutgoingMessage>({
      maxItems: options.maxQueuedChunks,
      maxBytes: options.maxQueuedBytes ?? 16 * 1024 * 1024,
      sizeOf: (message) => message.value.length,
    });
    this.#workers = producers.map((producer) =>
      this.#work(producer, settings, options.topic)
    );
  }

  /** Connects `options.workers` producers and starts them. */
  static async start(
    kafka: Kafka,
    settings: KafkaSettings,
    options: ChunkProducerOptions,
  ): Promise<ChunkProducer> {
    const producers = Array.from(
      { length: Math.max(1, options.workers) },
      () =>
        kafka.producer({
          createPartitioner: Partitioners.DefaultPartitioner,
          retry: { retries: settings.producer.retries },
        }),
    );
    await withReachableBroker(
      settings,
      () => Promise.all(producers.map((p) => p.connect())),
    );
    return new ChunkProducer(producers, settings, options);
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
      try {
        await producer.send({
          topic,
          acks,
          compression: compressionType(compression),
          messages: batch.map((m) => ({
            key: m.key,
            value: Buffer.from(
              m.value.buffer,
              m.value.byteOffset,
              m.value.length,
            ),
          })),
        });
        for (const message of batch) message.delivered();
      } catch (error) {
        for (const message of batch) message.failed(error as Error);
      }
    }
  }
}
