/**
 * The one place that knows the Kafka client library (kafkajs).
 *
 * Scripts ask this module for a connected producer, a consumer or an admin, and
 * get one-line {@linkcode UserError}s when the broker cannot be reached. It also
 * teaches kafkajs to read lz4- and snappy-compressed batches (kafkajs only
 * knows gzip itself), because other producers, OpenMSIStream among them, use
 * lz4 by default. Keeping kafkajs behind this module keeps a later switch to
 * another client cheap.
 *
 * @example
 * ```ts
 * import { createKafka, connectAdmin, ensureTopic } from "./client.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * const kafka = createKafka(await loadKafkaConfig("local"));
 * const admin = await connectAdmin(kafka);
 * await ensureTopic(admin, "lecroy_files", 5);
 * await admin.disconnect();
 * ```
 *
 * @module
 */
import {
  type Admin,
  CompressionCodecs,
  CompressionTypes,
  Kafka,
  type KafkaConfig,
  logLevel,
} from "kafkajs";
import SnappyCodec from "kafkajs-snappy";
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";
import { UserError } from "../common/cli.ts";
import {
  type KafkaSettings,
  loadKafkaConfig,
  type ProducerSettings,
  type TopicSettings,
} from "./config.ts";
import { DEFAULT_THREADS } from "./kafka_flags.ts";
import type { Logger } from "../common/log.ts";
import { sleep } from "../common/shutdown.ts";
import { lz4Codec } from "./lz4_codec.ts";
import { explainConnectionError } from "./connection_errors.ts";
import { zstdCodec } from "./zstd_codec.ts";

/** kafkajs' names for the compression settings of the config file. */
const COMPRESSION: Record<ProducerSettings["compression"], CompressionTypes> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  lz4: CompressionTypes.LZ4,
  snappy: CompressionTypes.Snappy,
};

/**
 * The kafkajs compression type for a config value.
 *
 * @example
 * ```ts
 * compressionType("lz4"); // CompressionTypes.LZ4
 * ```
 */
export function compressionType(
  name: ProducerSettings["compression"],
): CompressionTypes {
  return COMPRESSION[name];
}

let codecsRegistered = false;

/** Registers the lz4, snappy and (reading only) zstd codecs and the queue fix, once. */
function registerCodecs(): void {
  if (codecsRegistered) return;
  codecsRegistered = true;
  CompressionCodecs[CompressionTypes.LZ4] = lz4Codec;
  CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;
  CompressionCodecs[CompressionTypes.ZSTD] = zstdCodec;
  skipEmptyQueueChecks();
}

/**
 * kafkajs' request queue sets a timer with a negative delay when nothing is
 * pending and nothing is throttled (an open kafkajs issue), and Node's timers
 * print a TimeoutNegativeWarning for it. Fixed where it happens: that timer
 * would only look at an empty queue, so it is not set. Every warning still
 * prints; nothing global is patched.
 */
function skipEmptyQueueChecks(): void {
  const queue = RequestQueue.prototype as {
    scheduleCheckPendingRequests(): void;
  };
  const schedule = queue.scheduleCheckPendingRequests;
  queue.scheduleCheckPendingRequests = function (
    this: { pending: unknown[]; throttledUntil: number },
  ) {
    const idle = this.pending.length === 0 &&
      this.throttledUntil <= Date.now();
    if (!idle) schedule.call(this);
  };
}

/**
 * A kafkajs client with this project's codecs and its fix for kafkajs'
 * negative timers; every kafkajs client is made here.
 *
 * @example
 * ```ts
 * const kafka = kafkaClient({ brokers: ["127.0.0.1:9092"] });
 * ```
 */
export function kafkaClient(config: KafkaConfig): Kafka {
  registerCodecs();
  return new Kafka(config);
}

/**
 * A kafkajs client for the given settings. kafkajs' own log is off: what
 * matters reaches the scripts as errors.
 *
 * @example
 * ```ts
 * const kafka = createKafka(settings);
 * ```
 */
export function createKafka(settings: KafkaSettings): Kafka {
  return kafkaClient({
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    ...settings.client,
    // Connecting gives up after about five seconds; sends retry on their own
    // (see ChunkProducer), with the config's `retries`.
    retry: { retries: 4, initialRetryTime: 300, maxRetryTime: 3000 },
    logLevel: Deno.env.get("KAFKAJS_DEBUG") ? logLevel.WARN : logLevel.NOTHING,
  });
}

/**
 * Turns a connection or login failure into a one-line {@linkcode UserError}
 * (see connection_errors.ts).
 *
 * @example
 * ```ts
 * await withReachableBroker(settings, () => producer.connect());
 * ```
 */
export async function withReachableBroker<T>(
  settings: KafkaSettings,
  action: () => Promise<T>,
): Promise<T> {
  try {
    return await action();
  } catch (error) {
    const why = explainConnectionError(error, settings);
    if (why) throw new UserError(why);
    throw error;
  }
}

/**
 * A connected admin client.
 *
 * @example
 * ```ts
 * const admin = await connectAdmin(kafka, settings);
 * ```
 */
export async function connectAdmin(
  kafka: Kafka,
  settings: KafkaSettings,
): Promise<Admin> {
  const admin = kafka.admin();
  await withReachableBroker(settings, () => admin.connect());
  return admin;
}

/** How a new topic is replicated. */
export interface TopicReplication {
  /** Copies of each partition. */
  replicationFactor: number;
  /** Copies that must have a message before acks=all acknowledges it. */
  minInSyncReplicas: number;
}

/**
 * The replication of a new topic: `min(3, brokers)` copies, and 2 of them in
 * sync for an acknowledgement when there are 3 or more; `wanted` (the
 * config's `[topic]` keys) overrides either, checked against the cluster.
 *
 * @example
 * ```ts
 * import { chooseReplication, connectAdmin, createKafka } from "./client.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * const settings = await loadKafkaConfig("local3");
 * const admin = await connectAdmin(createKafka(settings), settings);
 * await chooseReplication(admin, settings.topic); // { replicationFactor: 3, minInSyncReplicas: 2 }
 * ```
 */
export async function chooseReplication(
  admin: Admin,
  wanted: TopicSettings = {},
): Promise<TopicReplication> {
  const brokers = (await admin.describeCluster()).brokers.length;
  const replicationFactor = wanted.replicationFactor ?? Math.min(3, brokers);
  const minInSyncReplicas = wanted.minInSyncReplicas ??
    (replicationFactor >= 3 ? 2 : 1);
  if (replicationFactor < 1 || replicationFactor > brokers) {
    throw new UserError(
      `replication.factor ${replicationFactor} needs as many brokers; the cluster has ${brokers}`,
    );
  }
  if (minInSyncReplicas < 1 || minInSyncReplicas > replicationFactor) {
    throw new UserError(
      `min.insync.replicas must be 1 to the replication.factor (${replicationFactor}), not ${minInSyncReplicas}`,
    );
  }
  return { replicationFactor, minInSyncReplicas };
}

/**
 * Creates `topic` with `partitions` partitions if it does not exist yet,
 * replicated as `replication` says (default: {@linkcode chooseReplication}).
 * Returns true when it was created.
 *
 * @example
 * ```ts
 * await ensureTopic(admin, "lecroy_files", 5);
 * ```
 */
export async function ensureTopic(
  admin: Admin,
  topic: string,
  partitions: number,
  replication?: TopicReplication,
): Promise<boolean> {
  const topics = await admin.listTopics();
  if (topics.includes(topic)) return false;
  const { replicationFactor, minInSyncReplicas } = replication ??
    await chooseReplication(admin);
  // kafkajs' own `waitForLeaders` can throw from a timer on a broker that has
  // just started ("does not host this topic-partition"), so wait here instead.
  const created = await admin.createTopics({
    topics: [{
      topic,
      numPartitions: partitions,
      replicationFactor,
      configEntries: [{
        name: "min.insync.replicas",
        value: String(minInSyncReplicas),
      }],
    }],
    waitForLeaders: false,
  });
  await waitForLeaders(admin, topic);
  return created;
}

/** Waits (up to 30 s) until every partition of `topic` has a leader. */
async function waitForLeaders(admin: Admin, topic: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = topics[0]?.partitions ?? [];
      if (partitions.length > 0 && partitions.every((p) => p.leader >= 0)) {
        return;
      }
    } catch {
      // The broker does not know the new topic yet; ask again.
    }
    await sleep(200);
  }
  throw new UserError(`topic ${topic} got no partition leader within 30 s`);
}

/**
 * How many partitions `topic` has.
 *
 * @example
 * ```ts
 * await countPartitions(admin, "lecroy_files"); // 5
 * ```
 */
export async function countPartitions(
  admin: Admin,
  topic: string,
): Promise<number> {
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  return metadata.topics[0]?.partitions.length ?? 0;
}

/** A checked connection to one topic: settings, client, partition count. */
export interface TopicConnection {
  /** The settings it was made with. */
  settings: KafkaSettings;
  /** The client, connected to the cluster the settings name. */
  kafka: Kafka;
  /** How many partitions the topic has. */
  partitions: number;
}

/**
 * What every Kafka tool does first: reads the config, checks that Kafka
 * answers, and creates the topic if it is missing, with one partition per
 * consumer of a default reconstructor (`DEFAULT_THREADS`).
 *
 * @example
 * ```ts
 * const { kafka, settings } = await openTopic("local", "lecroy_files", log);
 * ```
 */
export async function openTopic(
  config: string,
  topic: string,
  log: Pick<Logger, "info" | "warn">,
): Promise<TopicConnection> {
  const settings = await loadKafkaConfig(config, (w) => log.warn(w));
  const kafka = createKafka(settings);
  const admin = await connectAdmin(kafka, settings);
  try {
    const replication = await chooseReplication(admin, settings.topic);
    if (await ensureTopic(admin, topic, DEFAULT_THREADS, replication)) {
      log.info(
        `Created topic ${topic} with ${DEFAULT_THREADS} partitions, ${replication.replicationFactor} replica(s), min.insync.replicas ${replication.minInSyncReplicas}`,
      );
    }
    return { settings, kafka, partitions: await countPartitions(admin, topic) };
  } finally {
    await admin.disconnect();
  }
}

/**
 * How many messages `topic` holds, over all partitions (0 while it does not
 * exist).
 *
 * @example
 * ```ts
 * await countMessages(admin, "lecroy_files"); // 4096
 * ```
 */
export async function countMessages(
  admin: Admin,
  topic: string,
): Promise<number> {
  if (!(await admin.listTopics()).includes(topic)) return 0;
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
}

/**
 * Waits until `topic` holds at least `count` messages (checking every 100 ms).
 *
 * @example
 * ```ts
 * await waitForMessages(admin, "lecroy_files", 4096);
 * ```
 */
export async function waitForMessages(
  admin: Admin,
  topic: string,
  count: number,
): Promise<void> {
  while (await countMessages(admin, topic) < count) await sleep(100);
}
