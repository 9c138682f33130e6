/**
 * What a topic can take, checked before anything is sent.
 *
 * A chunk message is the chunk's bytes plus its hashes, names and the record
 * headers. A broker refuses a message above the topic's `max.message.bytes`
 * (about 1 MiB by default), and a client only finds out after sending it, as a
 * refused batch. {@linkcode checkChunkFits} asks the broker for the limit
 * and refuses a `--chunk_size` that cannot fit, with the largest one that does.
 *
 * @example
 * ```ts
 * import { checkChunkFits } from "./topic_limits.ts";
 * import { connectAdmin, createKafka } from "./client.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * const settings = await loadKafkaConfig("local");
 * const kafka = createKafka(settings);
 * await checkChunkFits(() => connectAdmin(kafka, settings), "lecroy_files", 16384);
 * ```
 *
 * @module
 */
import { UserError } from "../common/cli.ts";

/**
 * Bytes a chunk message carries besides the chunk: two SHA-512s, the msgpack
 * framing, the key and names, and the record and batch headers, with room to
 * spare for long file names.
 */
export const CHUNK_MESSAGE_OVERHEAD = 1024;

/** One topic config value, as the broker describes it. */
export interface ConfigEntry {
  /** The key, e.g. `max.message.bytes`. */
  configName: string;
  /** Its value, as text. */
  configValue: string;
}

/** Kafka's resource type of a topic, in a describe-configs request. */
export const TOPIC_RESOURCE = 2;

/** The admin calls this module needs; a `KafkaAdmin` (client.ts) has them. */
export interface ConfigReader {
  /** The configs named in `resources` (`type` {@linkcode TOPIC_RESOURCE} for a topic). */
  describeConfigs(request: {
    includeSynonyms: boolean;
    resources: { type: number; name: string; configNames: string[] }[];
  }): Promise<{ resources: { configEntries: ConfigEntry[] }[] }>;
  /** Closes the connection. */
  disconnect(): Promise<void>;
}

/**
 * The topic's `max.message.bytes` as the broker reports it (1048588, Kafka's
 * default, if it says nothing).
 *
 * @example
 * ```ts
 * import { connectAdmin, createKafka } from "./client.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * const settings = await loadKafkaConfig("local");
 * const admin = await connectAdmin(createKafka(settings), settings);
 * await maxMessageBytes(admin, "lecroy_files"); // 1048588
 * ```
 */
export async function maxMessageBytes(
  admin: ConfigReader,
  topic: string,
): Promise<number> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{
      type: TOPIC_RESOURCE,
      name: topic,
      configNames: ["max.message.bytes"],
    }],
  });
  const value = resources[0]?.configEntries.find((entry) =>
    entry.configName === "max.message.bytes"
  )?.configValue;
  return Number(value ?? 1048588);
}

/**
 * Throws a one-line {@linkcode UserError} when chunks of `chunkSize` bytes
 * would make messages larger than `topic` accepts. `connect` opens the admin
 * connection it asks with (closed again here).
 *
 * @example
 * ```ts
 * import { connectAdmin, createKafka } from "./client.ts";
 * import { loadKafkaConfig } from "./config.ts";
 *
 * const settings = await loadKafkaConfig("local");
 * const kafka = createKafka(settings);
 * await checkChunkFits(() => connectAdmin(kafka, settings), "lecroy_files", 16384);
 * ```
 */
export async function checkChunkFits(
  connect: () => Promise<ConfigReader>,
  topic: string,
  chunkSize: number,
): Promise<void> {
  const admin = await connect();
  let limit: number;
  try {
    limit = await maxMessageBytes(admin, topic);
  } finally {
    await admin.disconnect();
  }
  if (chunkSize + CHUNK_MESSAGE_OVERHEAD <= limit) return;
  let fits = 1;
  while (fits * 2 + CHUNK_MESSAGE_OVERHEAD <= limit) fits *= 2;
  throw new UserError(
    `--chunk_size ${chunkSize} does not fit topic ${topic}: its messages may have ${limit} bytes (max.message.bytes), a chunk needs ${CHUNK_MESSAGE_OVERHEAD} more; use --chunk_size ${fits} or less`,
  );
}
