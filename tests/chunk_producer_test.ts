/**
 * The uploaders' producer against a real broker: every chunk of one file on
 * the partition Kafka's Java client picks for the file (checked against the
 * murmur2 values of Kafka's own tests, read back by kcat); which of the
 * library's errors a resend may cure.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  AuthenticationError,
  MultipleErrors,
  NetworkError,
  ProtocolError,
  TimeoutError,
} from "@platformatic/kafka";
import { ChunkProducer, isRetriable } from "../lib/kafka/chunk_producer.ts";
import { createKafka } from "../lib/kafka/client.ts";
import { parseKafkaConfig } from "../lib/kafka/config.ts";
import { filePartOfKey } from "../lib/transfer/chunk.ts";
import { createTopic, startTestBroker, uniqueTopic } from "./helpers/kafka.ts";

/** Keys and their murmur2 hashes, from Kafka's own Java tests (UtilsTest). */
const JAVA_MURMUR2: [string, number][] = [
  ["21", -973932308],
  ["foobar", -790332482],
  ["a-little-bit-long-string", -985981536],
  ["a-little-bit-longer-string", -1486304829],
  ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
  ["abc", 479470107],
];

const PARTITIONS = 7;
const CHUNKS = 3;

/** Sends `keys` (small values) and returns how many were delivered and the errors. */
async function sendAll(
  bootstrap: string,
  topic: string,
  keys: string[],
  { workers = 2, valueBytes = 0 } = {},
): Promise<{ delivered: number; errors: Error[] }> {
  const settings = parseKafkaConfig(
    `[cluster]\nbootstrap.servers = ${bootstrap}\n[producer]\nlinger.ms = 5\n`,
    "test",
    () => undefined,
  );
  const producer = await ChunkProducer.start(createKafka(settings), settings, {
    topic,
    workers,
    maxQueuedChunks: 100,
    partitionKey: filePartOfKey,
  });
  let delivered = 0;
  const errors: Error[] = [];
  for (const key of keys) {
    await producer.send({
      key,
      value: valueBytes > 0
        ? new Uint8Array(valueBytes)
        : new TextEncoder().encode(key),
      delivered: () => delivered++,
      failed: (error) => errors.push(error),
    });
  }
  await producer.close();
  return { delivered, errors };
}

/** Each message's key, in the order of the topic's (one) partition, read by kcat. */
async function keysInOrder(
  bootstrap: string,
  topic: string,
): Promise<string[]> {
  const output = await new Deno.Command("kcat", {
    args: ["-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-f", "%k\n"],
    stdout: "piped",
  }).output();
  strictEqual(output.code, 0);
  return new TextDecoder().decode(output.stdout).split("\n").filter(Boolean);
}

/** Each message's key and partition, read by kcat. */
async function partitionsByKey(
  bootstrap: string,
  topic: string,
): Promise<Map<string, number>> {
  const output = await new Deno.Command("kcat", {
    args: ["-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-f", "%p %k\n"],
    stdout: "piped",
  }).output();
  strictEqual(output.code, 0);
  const found = new Map<string, number>();
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
    const [partition, key] = line.split(" ");
    if (key) found.set(key, Number(partition));
  }
  return found;
}

Deno.test("ChunkProducer places every chunk of a file where Kafka's Java client would", async (t) => {
  const broker = await startTestBroker();
  try {
    await t.step(
      "every chunk of a file lands on positive(murmur2(file part)) % partitions",
      async () => {
        const topic = uniqueTopic("java_partitions");
        await createTopic(broker.bootstrap, topic, PARTITIONS);
        const keys = JAVA_MURMUR2.flatMap(([file]) =>
          Array.from(
            { length: CHUNKS },
            (_, i) => `${file}_chunk_${i + 1}_of_${CHUNKS}`,
          )
        );
        const { delivered, errors } = await sendAll(
          broker.bootstrap,
          topic,
          keys,
        );
        deepStrictEqual(errors, []);
        strictEqual(delivered, keys.length);
        const found = await partitionsByKey(broker.bootstrap, topic);
        strictEqual(found.size, keys.length);
        for (const [file, hash] of JAVA_MURMUR2) {
          const expected = (hash & 0x7fffffff) % PARTITIONS;
          for (let i = 1; i <= CHUNKS; i++) {
            strictEqual(
              found.get(`${file}_chunk_${i}_of_${CHUNKS}`),
              expected,
              file,
            );
          }
        }
      },
    );
    await t.step(
      "with 5 producers a file's chunks land in runs of a batch (61 chunks of 16 KiB), not every fifth",
      async () => {
        const topic = uniqueTopic("chunk_runs");
        await createTopic(broker.bootstrap, topic, 1);
        const total = 600;
        const keys = Array.from(
          { length: total },
          (_, i) => `scope.trc_chunk_${i + 1}_of_${total}`,
        );
        const { delivered, errors } = await sendAll(
          broker.bootstrap,
          topic,
          keys,
          { workers: 5, valueBytes: 16384 },
        );
        deepStrictEqual(errors, []);
        strictEqual(delivered, total);
        const order = (await keysInOrder(broker.bootstrap, topic)).map((key) =>
          Number(key.split("_")[2])
        );
        deepStrictEqual(
          [...order].sort((a, b) => a - b),
          keys.map((_, i) => i + 1),
        );
        // A break: a chunk that does not follow the one before it. About 10
        // batches go out, some overtaking others; taken in turns, nearly
        // every chunk was a break.
        const breaks = order.filter((n, i) => i > 0 && n !== order[i - 1] + 1);
        ok(breaks.length <= 20, `${breaks.length} breaks in ${total} chunks`);
      },
    );
  } finally {
    await broker.stop();
  }
});

Deno.test("isRetriable looks through @platformatic/kafka's nested errors: lost connections, timeouts and moved leaders retry, a message too large or a failed login does not", () => {
  const leaderMoved = new MultipleErrors("produce failed 3 times.", [
    new NetworkError("Connection to 127.0.0.1:9092 failed.", {
      cause: new Error("connect ECONNREFUSED 127.0.0.1:9092"),
    }),
    new ProtocolError("NOT_LEADER_OR_FOLLOWER"),
  ]);
  ok(isRetriable(leaderMoved));
  ok(isRetriable(new TimeoutError("Request timed out", { canRetry: true })));
  ok(isRetriable(new ProtocolError("NOT_ENOUGH_REPLICAS")));
  ok(
    !isRetriable(
      new MultipleErrors("produce failed.", [
        new ProtocolError("MESSAGE_TOO_LARGE"),
      ]),
    ),
  );
  ok(!isRetriable(new AuthenticationError("SASL authentication failed.")));
  ok(
    !isRetriable(
      new NetworkError("Client is closed.", { canRetry: false, closed: true }),
    ),
  );
});
