/**
 * # Benchmark: the Kafka client alone (the floor under the tools)
 *
 * ```sh
 * deno task bench_client produce --topic_name floor --chunk_size 16384 --records 32768
 * deno task bench_client consume --topic_name floor --records 32768
 * deno task bench --client   # both, beside upload_data_file and reconstruct_data_files
 * ```
 *
 * What it demonstrates: upload_data_file and reconstruct_data_files stand on
 * a Kafka client library (@platformatic/kafka). This script sends, or reads
 * back, as many records of the same size with that library and nothing
 * else: no file is read, nothing is hashed, written or checked. The value
 * is one buffer sent again and again. It uses the tools' own settings (the
 * config's batch size, acks and compression; as many producers as the
 * upload; the rebuild's fetch sizes), so what a tool needs beyond this
 * script, in time and in memory, is what its own work costs. Run under GNU
 * time by `deno task bench --client`, its peak RSS is the floor a tool
 * cannot go below with this client.
 *
 * Permissions: `--allow-read` (the config), `--allow-net` (the brokers),
 * `--allow-env` (credentials a config may name).
 *
 * Try: `--chunk_size 1024` (the client's cost per record shows), or a
 * config with `batch.size = 1000000` and compare the peak RSS.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { CompressionAlgorithms, Consumer, Producer } from "@platformatic/kafka";
import { runMain, UsageError, UserError } from "../lib/common/cli.ts";
import { numberFlag, parseFlags, stringFlag } from "../lib/common/flags.ts";
import {
  connectAdmin,
  createKafka,
  KafkaClient,
  withReachableBroker,
} from "../lib/kafka/client.ts";
import { type KafkaSettings, loadKafkaConfig } from "../lib/kafka/config.ts";
import { fetchOptions } from "../lib/kafka/consumer_group.ts";
import { DEFAULT_THREADS } from "../lib/kafka/kafka_flags.ts";

/** Whole numbers, at least 1. */
const WHOLE = { integer: true, min: 1 };
/** Records the consumer's stream may hold, as in the rebuild. */
const HIGH_WATER_MARK = 64;
/** The partition every record goes to (one file's chunks share one). */
const PARTITION = 0;

/**
 * Throws a one-line error unless `topic` exists (the client would otherwise
 * fail from deep inside, with a stack trace).
 */
async function requireTopic(
  settings: KafkaSettings,
  topic: string,
): Promise<void> {
  const admin = await connectAdmin(createKafka(settings), settings);
  try {
    if (!(await admin.listTopics()).includes(topic)) {
      throw new UserError(
        `topic ${topic} does not exist (deno task bench --client makes its own)`,
      );
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * Sends `records` records of `chunkSize` bytes to `topic` with `threads`
 * producers, each taking as many records per request as fit in the
 * config's `batch.size` (at least one). All go to one partition, as the
 * upload sends one file's chunks (they share the file's key).
 */
async function sendRecords(
  settings: KafkaSettings,
  topic: string,
  chunkSize: number,
  records: number,
  threads: number,
): Promise<void> {
  const { acks, batchBytes, compression } = settings.producer;
  const base = KafkaClient.options(createKafka(settings));
  const producers = Array.from(
    { length: threads },
    () =>
      new Producer({
        ...base,
        acks,
        // The library's names are the config's in capitals (NONE, LZ4, ...).
        compression: CompressionAlgorithms[
          compression.toUpperCase() as Uppercase<typeof compression>
        ],
        autocreateTopics: false,
      }),
  );
  const value = Buffer.alloc(chunkSize, 0x5a);
  const perRequest = Math.max(1, Math.floor(batchBytes / chunkSize));
  let next = 0;
  /** One producer's loop: claim the next records, send them, repeat. */
  async function sendLoop(producer: Producer): Promise<void> {
    while (next < records) {
      const count = Math.min(perRequest, records - next);
      next += count;
      const messages = Array.from(
        { length: count },
        () => ({ topic, value, partition: PARTITION }),
      );
      await producer.send({ messages, acks });
    }
  }
  try {
    // An unreachable broker is one line, said before any record is sent.
    await withReachableBroker(
      settings,
      () => producers[0].metadata({ topics: [topic] }),
    );
    await Promise.all(producers.map(sendLoop));
  } finally {
    await Promise.allSettled(producers.map((p) => p.close()));
  }
}

/**
 * Reads `topic` from its beginning in a fresh group until `records`
 * records came, with the rebuild's fetch sizes; returns the value bytes.
 */
async function readRecords(
  settings: KafkaSettings,
  topic: string,
  records: number,
): Promise<number> {
  const consumer = new Consumer({
    ...KafkaClient.options(createKafka(settings)),
    groupId: `bench_client_${crypto.randomUUID()}`,
    autocommit: false,
    ...fetchOptions(settings),
  });
  let count = 0;
  let bytes = 0;
  try {
    const stream = await withReachableBroker(settings, () =>
      consumer.consume({
        topics: [topic],
        mode: "earliest",
        autocommit: false,
        highWaterMark: HIGH_WATER_MARK,
      }));
    for await (const message of stream) {
      bytes += (message.value as Uint8Array | undefined)?.length ?? 0;
      if (++count === records) break;
    }
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return bytes;
}

if (import.meta.main) {
  await runMain("bench_client", async () => {
    const { flags, positionals } = parseFlags(Deno.args, {
      program: "bench_client",
      summary:
        "Send or read records with the Kafka client alone (no file, no hashing): the floor under upload_data_file and reconstruct_data_files.",
      positionals: "produce|consume",
      flags: {
        config: stringFlag("local", "config name in config/ or a path"),
        topic_name: {
          type: "string",
          description: "the topic (it must exist)",
        },
        chunk_size: numberFlag(16384, "bytes per record (produce)", WHOLE),
        records: numberFlag(1024, "records to send or read", WHOLE),
        n_threads: numberFlag(DEFAULT_THREADS, "producers (produce)", WHOLE),
      },
    });
    const direction = positionals[0];
    if (
      positionals.length !== 1 || !["produce", "consume"].includes(direction)
    ) {
      throw new UsageError("say what to do: produce or consume");
    }
    if (!flags.topic_name) throw new UsageError("--topic_name is required");
    const settings = await loadKafkaConfig(flags.config);
    await requireTopic(settings, flags.topic_name);
    const started = performance.now();
    if (direction === "produce") {
      await sendRecords(
        settings,
        flags.topic_name,
        flags.chunk_size,
        flags.records,
        flags.n_threads,
      );
      console.log(
        `sendRecords: ${flags.records} records of ${flags.chunk_size} B`,
      );
    } else {
      const bytes = await readRecords(
        settings,
        flags.topic_name,
        flags.records,
      );
      console.log(`readRecords: ${flags.records} records, ${bytes} B`);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`bench_client: ${direction} done in ${seconds.toFixed(2)} s`);
  });
}
