/**
 * The {@linkcode KafkaAdmin} behind `connectAdmin` (client.ts): the admin
 * calls the tools and tests use, on a @platformatic/kafka `Admin`.
 *
 * It keeps what the library does differently from what the tools expect in
 * one place: the connection is checked with retries of its own (the
 * library's would log in again with a wrong password), each topic is created
 * with its own configs, and internal topics (`__consumer_offsets`), which
 * the library's metadata leaves out, are asked for with a Metadata request
 * of their own.
 *
 * @example
 * ```ts
 * import { AdminConnection } from "./admin_connection.ts";
 * import { createKafka, KafkaClient } from "./client.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * const kafka = createKafka(await loadKafkaConfig("local"));
 * const admin = new AdminConnection(KafkaClient.options(kafka));
 * await admin.connect();
 * await admin.listTopics();
 * await admin.disconnect();
 * ```
 *
 * @module
 */
import { Admin, ListOffsetTimestamps, metadataV12 } from "@platformatic/kafka";
import { UserError } from "../common/cli.ts";
import { sleep } from "../common/shutdown.ts";
import type {
  BrokerAddress,
  ClientOptions,
  KafkaAdmin,
  NewTopic,
  PartitionMetadata,
  PartitionOffsets,
  TopicMetadata,
} from "./client.ts";
import { isPermanent } from "./connection_errors.ts";
import type { ConfigEntry } from "./topic_limits.ts";

/** Tries of each admin call after the first. */
const ADMIN_RETRIES = 3;
/** The pause before each of them. */
const ADMIN_RETRY_DELAY_MS = 1000;

/** Kafka's error for a topic that is already there. */
const TOPIC_ALREADY_EXISTS = "TOPIC_ALREADY_EXISTS";

/**
 * A {@linkcode KafkaAdmin} on a @platformatic/kafka `Admin`.
 *
 * @example
 * ```ts
 * import { AdminConnection } from "./admin_connection.ts";
 * import type { ClientOptions } from "./client.ts";
 * declare const options: ClientOptions;
 *
 * const admin = new AdminConnection(options);
 * await admin.connect();
 * await admin.fetchTopicOffsets("lecroy_files");
 * ```
 */
export class AdminConnection implements KafkaAdmin {
  readonly #admin: Admin;

  /** An admin client for a cluster, with this module's retries; call {@linkcode AdminConnection.connect} next. */
  constructor(options: ClientOptions) {
    this.#admin = new Admin({
      ...options,
      retries: ADMIN_RETRIES,
      retryDelay: ADMIN_RETRY_DELAY_MS,
    });
  }

  /**
   * Opens the connection (a metadata request for no topic): gives up after
   * about four seconds (four tries), at once on a wrong password or a TLS
   * mismatch; closes the client again on failure.
   */
  async connect(): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        // The library's own retries would log in again with a wrong password.
        await this.#admin.metadata({
          topics: [],
          forceUpdate: true,
          retries: 0,
        });
        return;
      } catch (error) {
        if (attempt >= ADMIN_RETRIES || isPermanent(error)) {
          await this.#admin.close().catch(() => {});
          throw error;
        }
        await sleep(ADMIN_RETRY_DELAY_MS);
      }
    }
  }

  listTopics(): Promise<string[]> {
    return this.#admin.listTopics();
  }

  async createTopics(
    request: { topics: NewTopic[]; waitForLeaders?: boolean },
  ): Promise<boolean> {
    let created = false;
    // The library gives one set of topic configs to all topics of a call.
    for (const topic of request.topics) {
      try {
        await this.#admin.createTopics({
          topics: [topic.topic],
          partitions: topic.numPartitions,
          replicas: topic.replicationFactor,
          configs: topic.configEntries,
        });
        created = true;
      } catch (error) {
        if (!hasKafkaError(error, TOPIC_ALREADY_EXISTS)) throw error;
      }
    }
    if (request.waitForLeaders) {
      for (const topic of request.topics) {
        await waitForLeaders(this, topic.topic);
      }
    }
    return created;
  }

  deleteTopics(request: { topics: string[] }): Promise<void> {
    return this.#admin.deleteTopics({ topics: request.topics });
  }

  async fetchTopicMetadata(
    request: { topics: string[] },
  ): Promise<{ topics: TopicMetadata[] }> {
    const metadata = await this.#admin.metadata({
      topics: request.topics,
      forceUpdate: true,
    });
    return {
      topics: await Promise.all(request.topics.map(async (name) => {
        const known = metadata.topics.get(name);
        if (!known) return { name, partitions: await this.#internal(name) };
        return {
          name,
          partitions: known.partitions.map((partition, partitionId) => ({
            partitionId,
            leader: partition.leader,
            replicas: [...partition.replicas],
            isr: [...partition.isr],
          })),
        };
      })),
    };
  }

  /**
   * The partitions of an internal topic (`__consumer_offsets`: its leaders
   * are the group coordinators), which the library's metadata leaves out:
   * asked with Kafka's Metadata request v12 (Kafka 2.8 and later) directly.
   */
  async #internal(topic: string): Promise<PartitionMetadata[]> {
    const brokers = [...this.#admin.currentMetadata?.brokers.values() ?? []];
    const connection = await this.#admin.connections.getFirstAvailable(
      brokers,
    );
    const answer = await metadataV12.api.async(connection, [topic], false);
    const found = answer.topics.find((t) => t.name === topic);
    return (found?.partitions ?? []).map((p) => ({
      partitionId: p.partitionIndex,
      leader: p.leaderId,
      replicas: [...p.replicaNodes],
      isr: [...p.isrNodes],
    })).sort((a, b) => a.partitionId - b.partitionId);
  }

  async fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]> {
    const { topics } = await this.fetchTopicMetadata({ topics: [topic] });
    const partitions = topics[0].partitions.map((p) => p.partitionId);
    const [low, high] = await Promise.all(
      [ListOffsetTimestamps.EARLIEST, ListOffsetTimestamps.LATEST].map(
        async (timestamp) => {
          const answer = await this.#admin.listOffsets({
            topics: [{
              name: topic,
              partitions: partitions.map((partitionIndex) => ({
                partitionIndex,
                timestamp,
              })),
            }],
          });
          return new Map(
            answer.flatMap((t) => t.partitions).map((
              p,
            ) => [p.partitionIndex, String(p.offset)]),
          );
        },
      ),
    );
    return partitions.map((partition) => ({
      partition,
      low: low.get(partition) ?? "0",
      high: high.get(partition) ?? "0",
    }));
  }

  async describeCluster(): Promise<{ brokers: BrokerAddress[] }> {
    const metadata = await this.#admin.metadata({
      topics: [],
      forceUpdate: true,
    });
    return {
      brokers: [...metadata.brokers].map(([nodeId, { host, port }]) => ({
        nodeId,
        host,
        port,
      })),
    };
  }

  async describeConfigs(request: {
    includeSynonyms: boolean;
    resources: { type: number; name: string; configNames: string[] }[];
  }): Promise<{ resources: { configEntries: ConfigEntry[] }[] }> {
    const described = await this.#admin.describeConfigs({
      includeSynonyms: request.includeSynonyms,
      resources: request.resources.map((r) => ({
        resourceType: r.type as 2,
        resourceName: r.name,
        configurationKeys: r.configNames,
      })),
    });
    return {
      resources: described.map((resource) => ({
        configEntries: resource.configs.flatMap((c) =>
          typeof c.value === "string"
            ? [{ configName: c.name, configValue: c.value }]
            : []
        ),
      })),
    };
  }

  disconnect(): Promise<void> {
    return this.#admin.close();
  }
}

/** Whether `error` or an error it wraps is Kafka's error `name` (e.g. TOPIC_ALREADY_EXISTS). */
function hasKafkaError(error: unknown, name: string): boolean {
  if (!(error instanceof Error)) return false;
  const wrapped = error as Error & { apiId?: unknown; errors?: unknown };
  if (wrapped.apiId === name) return true;
  const inner = Array.isArray(wrapped.errors) ? wrapped.errors : [];
  return [...inner, wrapped.cause].some((e) => hasKafkaError(e, name));
}

/**
 * Waits (up to 30 s) until every partition of `topic` has a leader.
 *
 * @example
 * ```ts
 * import { waitForLeaders } from "./admin_connection.ts";
 * import type { KafkaAdmin } from "./client.ts";
 * declare const admin: KafkaAdmin;
 *
 * await waitForLeaders(admin, "lecroy_files");
 * ```
 */
export async function waitForLeaders(
  admin: KafkaAdmin,
  topic: string,
): Promise<void> {
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
