/**
 * The Kafka side of an upload, before any chunk goes out: the topic opened
 * (created if missing), the chunk size checked against the topic's limit,
 * and how to start the producers. Both uploaders start this way.
 *
 * @example
 * ```ts
 * import { openUploadTopic } from "./upload_topic.ts";
 * import { Logger } from "../common/log.ts";
 *
 * const log = new Logger({ style: "bracket", program: "demo" });
 * const { connect, where } = await openUploadTopic({
 *   config: "config/local.config", topic_name: "lecroy_files",
 *   chunk_size: 16384, n_threads: 2, queue_max_size: 3000, retry_seconds: 30,
 * }, log);
 * console.log(`sending to ${where}`);
 * const producer = await connect();
 * await producer.close();
 * ```
 *
 * @module
 */
import { filePartOfKey } from "./chunk.ts";
import { WHOLE_FILE_HEADERS } from "./repartition.ts";
import { ChunkProducer, retryReporter } from "../kafka/chunk_producer.ts";
import { checkChunkFits } from "../kafka/topic_limits.ts";
import { connectAdmin, openTopic } from "../kafka/client.ts";
import { describeSettings, type KafkaSettings } from "../kafka/config.ts";
import type { Logger } from "../common/log.ts";
import {
  checkNodeFilesWithSides,
  type SideTopics,
  TransferCrypto,
} from "./transfer_crypto.ts";

/** The uploader flags that say where and how chunks are produced. */
export interface UploadTopicOptions extends SideTopics {
  /** The `--config` file. */
  config: string;
  /** The `--topic_name`. */
  topic_name: string;
  /** The `--chunk_size` in bytes. */
  chunk_size: number;
  /** The `--n_threads`: parallel producers. */
  n_threads: number;
  /** Chunks that may wait in memory at most. */
  queue_max_size: number;
  /** The `--retry_seconds` for a chunk Kafka did not take. */
  retry_seconds: number;
}

/** An opened topic: how to start the producers, and where they send. */
export interface UploadTopic {
  /** Starts the producers; call it only when there is work. */
  connect: () => Promise<ChunkProducer>;
  /** The brokers and config file, for a log line. */
  where: string;
  /** The config's settings (heartbeats use them too). */
  settings: KafkaSettings;
  /**
   * The node that encrypts, when the config has `[kafkacrypto]`: it answers
   * key requests (this run's and kept keys) until {@linkcode UploadTopic.close}.
   */
  crypto?: TransferCrypto;
  /** Stops the node, if any (call it after the producers closed). */
  close: () => Promise<void>;
}

/**
 * Checks that Kafka answers and creates the topic if it is missing, then
 * that a chunk fits the topic; returns how to connect the producers.
 * `opened(where)` is called once the topic is open, before the size check.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 * declare const log: Logger;
 * const topic = await openUploadTopic({
 *   config: "config/local.config", topic_name: "lecroy_files",
 *   chunk_size: 16384, n_threads: 2, queue_max_size: 3000, retry_seconds: 30,
 * }, log, (where) => log.info(`Uploading to ${where}`));
 * const producer = await topic.connect();
 * ```
 */
export async function openUploadTopic(
  options: UploadTopicOptions,
  log: Logger,
  opened?: (where: string) => void,
): Promise<UploadTopic> {
  const { kafka, settings } = await openTopic(
    options.config,
    options.topic_name,
    log,
    // Wrong node files are one line before anything connects.
    (settings) =>
      checkNodeFilesWithSides(settings, options.topic_name, options),
  );
  const where = describeSettings(settings);
  opened?.(where);
  await checkChunkFits(
    () => connectAdmin(kafka, settings),
    options.topic_name,
    options.chunk_size,
  );
  const crypto = await TransferCrypto.open(
    settings,
    kafka,
    options.topic_name,
  );
  // Requests for keys kept from earlier runs are answered while this is up.
  if (crypto) {
    await crypto.answerRequests(options.topic_name);
    log.info(
      `Encrypting end to end as KafkaCrypto node ${crypto.nodeId} (keys answered on ${
        options.topic_name.split(".", 1)[0]
      }.reqs)`,
    );
  }
  const seal = crypto &&
    ((key: string, value: Uint8Array) =>
      crypto.seal(options.topic_name, key, value));
  const connect = () =>
    ChunkProducer.start(kafka, settings, {
      seal,
      topic: options.topic_name,
      workers: options.n_threads,
      maxQueuedChunks: options.queue_max_size,
      retrySeconds: options.retry_seconds,
      // One file's chunks on one partition: a group's members share files.
      partitionKey: filePartOfKey,
      // ... and say so: a group's members rebuild it where it is.
      headers: WHOLE_FILE_HEADERS,
      ...retryReporter(log),
    });
  return {
    connect,
    where,
    settings,
    crypto,
    close: async () => await crypto?.close(),
  };
}
