/**
 * What a topic can take, checked before anything is sent.
 *
 * A chunk message is the chunk's bytes plus its hashes, names and the record
 * headers. A broker refuses a message above the topic's `max.message.bytes`
 * (about 1 MiB by default), and kafkajs only finds out after sending it, as a
 * broken connection. {@linkcode checkChunkFits} asks the broker for the limit
 * and refuses a `--chunk_size` that cannot fit, with the largest one that does.
 *
 * @example
 * ```ts
 * import { checkChunkFits } from "./topic_limits.ts";
 *
 * await checkChunkFits(kafka, settings, "lecroy_files", 16384);
 * ```
 *
 * @module
 */
import { ConfigResourceTypes, type Kafka } from "kafkajs";
import { UserError } from "../common/cli.ts";
import { connectAdmin } from "./client.ts";
import type { KafkaSettings } from "./config.ts";

/**
 * Bytes a chunk message carries besides the chunk: two SHA-512s, the msgpack
 * framing, the key and names, and the record and batch headers, with room to
 * spare for long file names.
 */
export const CHUNK_MESSAGE_OVERHEAD = 1024;

/**
 * The topic's `max.message.bytes` as the broker reports it.
 *
 * @example
 * ```ts
 * await maxMessageBytes(kafka, settings, "lecroy_files"); // 1048588
 * ```
 */
export async function maxMessageBytes(
  kafka: Kafka,
  settings: KafkaSettings,
  topic: string,
): Promise<number> {
  const admin = await connectAdmin(kafka, settings);
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{
        type: ConfigResourceTypes.TOPIC,
        name: topic,
        configNames: ["max.message.bytes"],
      }],
    });
    const value = resources[0]?.configEntries.find((entry) =>
      entry.configName === "max.message.bytes"
    )?.configValue;
    return Number(value ?? 1048588);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Throws a one-line {@linkcode UserError} when chunks of `chunkSize` bytes
 * would make messages larger than `topic` accepts.
 *
 * @example
 * ```ts
 * await checkChunkFits(kafka, settings, "lecroy_files", 2 * 1024 * 1024);
 * // UserError: --chunk_size 2097152 does not fit topic lecroy_files ...
 * ```
 */
export async function checkChunkFits(
  kafka: Kafka,
  settings: KafkaSettings,
  topic: string,
  chunkSize: number,
): Promise<void> {
  const limit = await maxMessageBytes(kafka, settings, topic);
  if (chunkSize + CHUNK_MESSAGE_OVERHEAD <= limit) return;
  let fits = 1;
  while (fits * 2 + CHUNK_MESSAGE_OVERHEAD <= limit) fits *= 2;
  throw new UserError(
    `--chunk_size ${chunkSize} does not fit topic ${topic}: its messages may have ${limit} bytes (max.message.bytes), a chunk needs ${CHUNK_MESSAGE_OVERHEAD} more; use --chunk_size ${fits} or less`,
  );
}
