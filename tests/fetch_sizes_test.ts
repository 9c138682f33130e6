/**
 * A consumer group asks Kafka for smaller fetches while the records are
 * small (consumer_member.ts, SMALL_RECORD_FETCH_BYTES): a small record is a
 * view into the client's socket reads, and a big fetch of them kept its
 * socket buffers alive past V8's young collections (issue 22). Checked on
 * the fetch requests the client sends to a real broker, through its own
 * diagnostics channel, over a topic of 16 KiB, then 512 KiB, then 16 KiB
 * records: every record is handled once, in order, whatever the fetch size.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { ConsumerGroup, fetchOptions } from "../lib/kafka/consumer_group.ts";
import { createKafka } from "../lib/kafka/client.ts";
import {
  plaintextSettings,
  produceRaw,
  randomBytes,
  startTestBroker,
  uniqueTopic,
} from "./helpers/kafka.ts";

const SMALL = 16 * 1024;
const BIG = 512 * 1024;
const MIB = 1024 * 1024;

/** What one fetch request asked for. */
interface AskedFetch {
  maxBytes: number;
  partitionMaxBytes: number[];
}

/**
 * Reads `topic` with a group of `consumers` until `count` different records
 * were handled by `handle` (at least once: a rebalance while the group forms
 * may hand a record to a second member before its commit); returns what
 * each fetch request asked for (from the client's own diagnostics channel),
 * the records handled (`partition:offset`, each once) and the group's
 * failures.
 */
async function readAll(
  bootstrap: string,
  topic: string,
  consumers: number,
  count: number,
  handle: (value: Uint8Array | null, partition: number) => Promise<void>,
): Promise<{ asked: AskedFetch[]; handled: Set<string>; failures: Error[] }> {
  const asked: AskedFetch[] = [];
  const channel = "tracing:plt:kafka:consumer:fetches:start";
  const onFetch = (context: unknown) => {
    const { options } = context as {
      options: {
        maxBytes: number;
        topics: { partitions: { partitionMaxBytes: number }[] }[];
      };
    };
    asked.push({
      maxBytes: options.maxBytes,
      partitionMaxBytes: options.topics.flatMap((topic) =>
        topic.partitions.map((partition) => partition.partitionMaxBytes)
      ),
    });
  };
  subscribe(channel, onFetch);
  const settings = plaintextSettings(bootstrap);
  const handled = new Set<string>();
  let done!: () => void;
  const allHandled = new Promise<void>((resolve) => done = resolve);
  const failures: Error[] = [];
  const group = await ConsumerGroup.start(createKafka(settings), settings, {
    topic,
    groupId: `${topic}-group`,
    consumers,
    handle: async (value, where) => {
      await handle(value, where.partition);
      handled.add(`${where.partition}:${where.offset}`);
      if (handled.size === count) done();
    },
    fatal: (error) => failures.push(error),
  });
  try {
    await allHandled;
  } finally {
    await group.stop();
    unsubscribe(channel, onFetch);
  }
  return { asked, handled, failures };
}

Deno.test("fetches ask for 1 MiB while records are small and for the config's size once they are big", async () => {
  const broker = await startTestBroker();
  const topic = uniqueTopic("fetch_sizes");
  const sizes = [
    ...Array(150).fill(SMALL),
    ...Array(8).fill(BIG),
    ...Array(300).fill(SMALL),
  ];
  // One send per batch: small, big, then small again in three batches of
  // 1.6 MiB, more than one 3 MiB fetch after the big ones can take, so a
  // fetch always follows once small records were read again (with one
  // batch of them, that fetch could come too late to be seen: CI once).
  const values = sizes.map((size, i) => randomBytes(size, i + 1));
  await produceRaw(broker.bootstrap, topic, values.slice(0, 150));
  await produceRaw(broker.bootstrap, topic, values.slice(150, 158));
  for (const from of [158, 258, 358]) {
    await produceRaw(broker.bootstrap, topic, values.slice(from, from + 100));
  }

  const configured = fetchOptions(plaintextSettings(broker.bootstrap));
  const handled: number[] = [];
  const { asked, failures } = await readAll(
    broker.bootstrap,
    topic,
    1,
    sizes.length,
    (value) => {
      handled.push(value?.byteLength ?? 0);
      return Promise.resolve();
    },
  );

  deepStrictEqual(failures, []);
  deepStrictEqual(handled, sizes, "every record once, in order");
  strictEqual(configured.maxBytesPerPartition, 3 * MIB);
  // One partition: each request names it once. The size changes only when
  // the records read last change size: small before any record, the
  // config's once the big ones came, small again after them.
  const perPartition = asked.map((fetch) => {
    strictEqual(fetch.partitionMaxBytes.length, 1);
    return fetch.partitionMaxBytes[0];
  });
  const runs = perPartition.filter((size, i) => size !== perPartition[i - 1]);
  deepStrictEqual(runs, [MIB, 3 * MIB, MIB]);
  for (const fetch of asked) {
    strictEqual(fetch.maxBytes, fetch.partitionMaxBytes[0]);
  }
});

Deno.test("consumers of one run busy at once share the 1 MiB of small records: each fetch asks for a part of it, never below 256 KiB", async () => {
  const broker = await startTestBroker();
  const topic = uniqueTopic("fetch_shared");
  const partitions = 4;
  const perPartition = 300;
  const values = Array.from(
    { length: partitions * perPartition },
    (_, i) => randomBytes(SMALL, i + 1),
  );
  await produceRaw(broker.bootstrap, topic, values, "none", partitions);

  // Each partition's first record waits until every partition sent one, so
  // that all the consumers have messages waiting at once.
  const startedPartitions = new Set<number>();
  let allStarted!: () => void;
  const started = new Promise<void>((resolve) => allStarted = resolve);
  const { asked: fetches, handled, failures } = await readAll(
    broker.bootstrap,
    topic,
    partitions,
    values.length,
    async (_value, partition) => {
      const first = !startedPartitions.has(partition);
      startedPartitions.add(partition);
      if (startedPartitions.size === partitions) allStarted();
      if (first) await started;
      // A little work per record, so the lanes stay busy while fetches come.
      const until = performance.now() + 0.2;
      while (performance.now() < until) { /* busy */ }
    },
  );
  const asked = fetches.flatMap((fetch) => fetch.partitionMaxBytes);

  deepStrictEqual(failures, []);
  // Every record of every partition, however often one came.
  const perPartitionHandled = Array(partitions).fill(0);
  for (const record of handled) {
    perPartitionHandled[Number(record.split(":")[0])]++;
  }
  deepStrictEqual(perPartitionHandled, Array(partitions).fill(perPartition));
  // Before any record waits, a fetch asks for the whole 1 MiB; with all 4
  // consumers busy, a quarter of it.
  strictEqual(asked[0], MIB);
  strictEqual(Math.min(...asked), MIB / 4, `asked: ${asked.join(", ")}`);
});
