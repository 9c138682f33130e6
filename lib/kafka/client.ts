/**
 * The one place that knows the Kafka client library (@platformatic/kafka).
 *
 * Scripts ask this module for a client, an admin connection and topic
 * operations, and get one-line {@linkcode UserError}s when the broker cannot be
 * reached. What it hands out has this project's own types: a
 * {@linkcode KafkaClient} (opaque outside lib/kafka) and a
 * {@linkcode KafkaAdmin} (the admin calls the tools use, on a
 * @platformatic/kafka `Admin`: `AdminConnection` in admin_connection.ts), so
 * the client library stays inside lib/kafka.
 *
 * @platformatic/kafka writes and reads all five codecs (none, gzip, snappy,
 * lz4, zstd) itself.
 *
 * @example
 * ```ts
 * import { connectAdmin, createKafka, ensureTopic } from "./client.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * const settings = await loadKafkaConfig("local");
 * const admin = await connectAdmin(createKafka(settings), settings);
 * await ensureTopic(admin, "lecroy_files", 5);
 * await admin.disconnect();
 * ```
 *
 * @module
 */
import type { BaseOptions } from "@platformatic/kafka";
import { AdminConnection, waitForLeaders } from "./admin_connection.ts";
import { UserError } from "../common/cli.ts";
import {
  type ClientSettings,
  type KafkaSettings,
  loadKafkaConfig,
  type TopicSettings,
} from "./config.ts";
import { DEFAULT_THREADS } from "./kafka_flags.ts";
import type { Logger } from "../common/log.ts";
import { sleep } from "../common/shutdown.ts";
import { explainConnectionError } from "./connection_errors.ts";
import type { ConfigReader } from "./topic_limits.ts";

/**
 * A client for one cluster: what producers, consumers and admin connections
 * are made from. Outside lib/kafka it is only passed along (to
 * {@linkcode connectAdmin}, `ChunkProducer.start`, `ConsumerGroup.start`);
 * only lib/kafka looks inside. Made by {@linkcode createKafka}.
 */
export class KafkaClient {
  readonly #base: BaseOptions;

  /** A client with these connection options; lib/kafka only (the rest uses {@linkcode createKafka}). */
  constructor(base: BaseOptions) {
    this.#base = base;
  }

  /**
   * The @platformatic/kafka options (brokers, TLS, SASL, timeouts) every
   * producer, consumer and admin client of this cluster is made with.
   */
  static options(client: KafkaClient): ClientOptions {
    return client.#base;
  }
}

/**
 * A client for the given settings.
 *
 * @example
 * ```ts
 * import { createKafka } from "./client.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * const kafka = createKafka(await loadKafkaConfig("local"));
 * ```
 */
export function createKafka(settings: KafkaSettings): KafkaClient {
  return new KafkaClient(platformaticOptions(settings.client));
}

/**
 * The connection options of @platformatic/kafka's clients (brokers, TLS,
 * SASL, timeouts, retries); lib/kafka only.
 */
export type ClientOptions = BaseOptions;

/**
 * The @platformatic/kafka connection options for `client`.
 *
 * @example
 * ```ts
 * import { platformaticOptions } from "./client.ts";
 *
 * platformaticOptions({ brokers: ["127.0.0.1:9092"], clientId: "probe" });
 * ```
 */
export function platformaticOptions(client: ClientSettings): ClientOptions {
  const { brokers, clientId, ssl, sasl, connectionTimeout, requestTimeout } =
    client;
  return {
    clientId,
    bootstrapBrokers: brokers,
    connectTimeout: connectionTimeout ?? 3000,
    requestTimeout: requestTimeout ?? 30_000,
    tls: ssl === undefined ? undefined : ssl === true ? {} : { ...ssl },
    sasl: sasl === undefined ? undefined : {
      mechanism: ({
        "plain": "PLAIN",
        "scram-sha-256": "SCRAM-SHA-256",
        "scram-sha-512": "SCRAM-SHA-512",
      } as const)[sasl.mechanism],
      username: sasl.username,
      password: sasl.password,
    },
  };
}

/**
 * Turns a connection or login failure into a one-line {@linkcode UserError}
 * (see connection_errors.ts).
 *
 * @example
 * ```ts
 * import { withReachableBroker } from "./client.ts";
 * import type { KafkaSettings } from "./config.ts";
 * declare const settings: KafkaSettings;
 * declare const producer: { connect(): Promise<void> };
 *
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
    throw brokerError(error, settings);
  }
}

/**
 * What to throw for `error`: a one-line {@linkcode UserError} where it is a
 * connection or login failure (see connection_errors.ts), else `error`.
 *
 * @example
 * ```ts
 * import { brokerError } from "./client.ts";
 * import type { KafkaSettings } from "./config.ts";
 * declare const settings: KafkaSettings;
 *
 * brokerError(new Error("boom"), settings); // the same Error
 * ```
 */
export function brokerError(error: unknown, settings: KafkaSettings): unknown {
  const why = explainConnectionError(error, settings);
  return why ? new UserError(why) : error;
}

/** A topic to create: its name, partitions, replicas and topic configs. */
export interface NewTopic {
  /** The topic's name. */
  topic: string;
  /** How many partitions. */
  numPartitions?: number;
  /** Copies of each partition. */
  replicationFactor?: number;
  /** Topic configs, e.g. `min.insync.replicas`. */
  configEntries?: { name: string; value: string }[];
}

/** One partition in a metadata answer. */
export interface PartitionMetadata {
  /** The partition's number. */
  partitionId: number;
  /** The broker id of its leader (-1: none yet). */
  leader: number;
  /** The broker ids that hold a copy. */
  replicas: number[];
  /** The broker ids whose copy is in sync. */
  isr: number[];
}

/** A topic in a metadata answer. */
export interface TopicMetadata {
  /** The topic's name. */
  name: string;
  /** Its partitions. */
  partitions: PartitionMetadata[];
}

/** The offsets of one partition: messages are `low` up to `high` (exclusive). */
export interface PartitionOffsets {
  /** The partition's number. */
  partition: number;
  /** The next offset to be written, as text. */
  high: string;
  /** The oldest offset still kept, as text. */
  low: string;
}

/** A broker of the cluster. */
export interface BrokerAddress {
  /** Its broker id. */
  nodeId: number;
  /** Its host name. */
  host: string;
  /** Its port. */
  port: number;
}

/**
 * The admin calls the tools and tests use, on a connection from
 * {@linkcode connectAdmin}.
 */
export interface KafkaAdmin extends ConfigReader {
  /** The names of every topic. */
  listTopics(): Promise<string[]>;
  /** Creates topics; true when any was created. */
  createTopics(request: {
    topics: NewTopic[];
    waitForLeaders?: boolean;
  }): Promise<boolean>;
  /** Deletes topics and their messages. */
  deleteTopics(request: { topics: string[] }): Promise<void>;
  /** Partitions, leaders and replicas of `topics`. */
  fetchTopicMetadata(
    request: { topics: string[] },
  ): Promise<{ topics: TopicMetadata[] }>;
  /** The low and high offsets of each partition of `topic`. */
  fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]>;
  /** The brokers of the cluster. */
  describeCluster(): Promise<{ brokers: BrokerAddress[] }>;
}

/**
 * A connected admin client.
 *
 * @example
 * ```ts
 * import { connectAdmin, createKafka } from "./client.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * const settings = await loadKafkaConfig("local");
 * const admin = await connectAdmin(createKafka(settings), settings);
 * await admin.listTopics();
 * await admin.disconnect();
 * ```
 */
export async function connectAdmin(
  kafka: KafkaClient,
  settings: KafkaSettings,
): Promise<KafkaAdmin> {
  const admin = new AdminConnection(KafkaClient.options(kafka));
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
  admin: KafkaAdmin,
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
 * replicated as `replication` says (default: {@linkcode chooseReplication}),
 * with further topic settings from `configs` (e.g. `file.delete.delay.ms`).
 * Returns true when it was created.
 *
 * @example
 * ```ts
 * import { ensureTopic, type KafkaAdmin } from "./client.ts";
 * declare const admin: KafkaAdmin;
 *
 * await ensureTopic(admin, "lecroy_files", 5);
 * ```
 */
export async function ensureTopic(
  admin: KafkaAdmin,
  topic: string,
  partitions: number,
  replication?: TopicReplication,
  configs: Record<string, string> = {},
): Promise<boolean> {
  const topics = await admin.listTopics();
  if (topics.includes(topic)) return false;
  const { replicationFactor, minInSyncReplicas } = replication ??
    await chooseReplication(admin);
  // A new topic's partitions get their leaders a moment after it is created.
  const created = await admin.createTopics({
    topics: [{
      topic,
      numPartitions: partitions,
      replicationFactor,
      configEntries: [
        { name: "min.insync.replicas", value: String(minInSyncReplicas) },
        ...Object.entries(configs).map(([name, value]) => ({ name, value })),
      ],
    }],
    waitForLeaders: false,
  });
  await waitForLeaders(admin, topic);
  return created;
}

/**
 * How many partitions `topic` has.
 *
 * @example
 * ```ts
 * import { countPartitions, type KafkaAdmin } from "./client.ts";
 * declare const admin: KafkaAdmin;
 *
 * await countPartitions(admin, "lecroy_files"); // 5
 * ```
 */
export async function countPartitions(
  admin: KafkaAdmin,
  topic: string,
): Promise<number> {
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  return metadata.topics[0]?.partitions.length ?? 0;
}

/** A checked connection to one topic: settings, client, partition count. */
export interface TopicConnection {
  /** The settings it was made with. */
  settings: KafkaSettings;
  /** A client for the cluster the settings name. */
  kafka: KafkaClient;
  /** How many partitions the topic has. */
  partitions: number;
}

/**
 * What every Kafka tool does first: reads the config, checks that Kafka
 * answers, and creates the topic if it is missing, with one partition per
 * consumer of a default reconstructor (`DEFAULT_THREADS`). `check`, if
 * given, sees the settings before anything connects (and may throw).
 *
 * @example
 * ```ts
 * import { openTopic } from "./client.ts";
 *
 * const { kafka, settings, partitions } = await openTopic(
 *   "local", "lecroy_files", console,
 * );
 * ```
 */
export async function openTopic(
  config: string,
  topic: string,
  log: Pick<Logger, "info" | "warn">,
  check?: (settings: KafkaSettings) => Promise<unknown>,
): Promise<TopicConnection> {
  const settings = await loadKafkaConfig(config, (w) => log.warn(w));
  // e.g. the node files of [kafkacrypto]: refused before connecting.
  await check?.(settings);
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
 * import { countMessages, type KafkaAdmin } from "./client.ts";
 * declare const admin: KafkaAdmin;
 *
 * await countMessages(admin, "lecroy_files"); // 4096
 * ```
 */
export async function countMessages(
  admin: KafkaAdmin,
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
 * import { type KafkaAdmin, waitForMessages } from "./client.ts";
 * declare const admin: KafkaAdmin;
 *
 * await waitForMessages(admin, "lecroy_files", 4096);
 * ```
 */
export async function waitForMessages(
  admin: KafkaAdmin,
  topic: string,
  count: number,
): Promise<void> {
  while (await countMessages(admin, topic) < count) await sleep(100);
}
