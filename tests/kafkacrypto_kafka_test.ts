/**
 * Encrypted messages over a real broker, both ways between the project's
 * CryptoNode and KafkaCrypto's own KafkaProducer / KafkaConsumer (run as an
 * outside Python program): keys requested on ROOT.reqs, answered on
 * ROOT.keys, every key and value decrypted; the broker (read with kcat)
 * holds no plaintext.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Consumer, Producer } from "@platformatic/kafka";
import { CryptoNode } from "../lib/crypto/crypto_node.ts";
import { openNode } from "../lib/crypto/node.ts";
import { provisionNode } from "../lib/crypto/provision.ts";
import {
  connectAdmin,
  createKafka,
  ensureTopic,
  KafkaClient,
} from "../lib/kafka/client.ts";
import {
  plaintextSettings,
  startTestBroker,
  uniqueTopic,
} from "./helpers/kafka.ts";
import { readWithKcat } from "./helpers/kafka_readers.ts";
import { startKafkaCryptoPeer } from "./helpers/kafkacrypto_peer.ts";

const ROOT_PASSWORD = "lab root password 2026";
const MARKER = "PLAINTEXT-MARKER-h20";

/** Provisions a node (ours) in a fresh temporary folder. */
async function makeNode(
  nodeId: string,
): Promise<{ folder: string; config: string }> {
  const folder = await Deno.makeTempDir({ prefix: `h20-kafka-${nodeId}-` });
  const node = await provisionNode({
    nodeId,
    folder,
    rootPassword: ROOT_PASSWORD,
  });
  return { folder, config: node.configPath };
}

Deno.test("CryptoNode and KafkaCrypto's KafkaProducer/KafkaConsumer read each other's encrypted messages; the broker holds no plaintext", async () => {
  const broker = await startTestBroker();
  const ours = await makeNode("ts_node");
  const theirs = await makeNode("py_node");
  const settings = plaintextSettings(broker.bootstrap);
  const kafka = createKafka(settings);
  try {
    // 1. We produce, KafkaCrypto's consumer reads (it asks us for the key).
    const toPython = uniqueTopic("crypto_out");
    const admin = await connectAdmin(kafka, settings);
    await ensureTopic(admin, toPython, 1);
    await admin.disconnect();
    const producerNode = await CryptoNode.start(
      await openNode(ours.config),
      kafka,
      settings,
    );
    const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
      ...KafkaClient.options(kafka),
    });
    const values = [`${MARKER} one`, `${MARKER} two`];
    for (const value of values) {
      const sealedKey = await producerNode.encrypt(
        toPython,
        new TextEncoder().encode(`key ${value}`),
        "key",
      );
      const sealedValue = await producerNode.encrypt(
        toPython,
        new TextEncoder().encode(value),
        "value",
      );
      await producer.send({
        messages: [{
          topic: toPython,
          key: Buffer.from(sealedKey),
          value: Buffer.from(sealedValue),
          partition: 0,
        }],
        acks: -1,
      });
    }
    const reader = startKafkaCryptoPeer(
      theirs.config,
      broker.bootstrap,
      toPython,
      [
        "consume",
        "2",
      ],
      // Its default crypto_sub_interval (60 s between requests): it must
      // read our answer to its first request. It starts reading ROOT.keys at
      // the topic's end, fixed only after its request went out, so an answer
      // sent once at once was lost and it printed "pending 2" here.
      { DEADLINE: "40" },
    );
    const read = await reader.output();
    await producer.close();
    await producerNode.close();
    const printed = new TextDecoder().decode(read.stdout);
    strictEqual(read.code, 0, new TextDecoder().decode(read.stderr));
    deepStrictEqual(
      printed.trim().split("\n"),
      [...values.map((value) => `clear key ${value} ${value}`), "pending 0"],
    );

    // 2. KafkaCrypto's producer writes, we read (we ask it for the key).
    const fromPython = uniqueTopic("crypto_in");
    const writer = startKafkaCryptoPeer(
      theirs.config,
      broker.bootstrap,
      fromPython,
      [
        "produce",
        `${MARKER}-a`,
        `${MARKER}-b`,
      ],
      { STAY: "90" },
    );
    const readerNode = await CryptoNode.start(
      await openNode(ours.config),
      kafka,
      settings,
    );
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      ...KafkaClient.options(kafka),
      groupId: uniqueTopic("g"),
    });
    const got: string[] = [];
    try {
      // The topic appears when the peer's first message does.
      for (let tries = 0; tries < 60; tries++) {
        const admin2 = await connectAdmin(kafka, settings);
        const exists = (await admin2.listTopics()).includes(fromPython);
        await admin2.disconnect();
        if (exists) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const stream = await consumer.consume({
        topics: [fromPython],
        mode: "earliest",
        autocommit: false,
      });
      for await (const message of stream) {
        const key = await readerNode.decrypt(
          fromPython,
          message.key,
          "key",
          90_000,
        );
        const value = await readerNode.decrypt(
          fromPython,
          message.value,
          "value",
          90_000,
        );
        ok(key.encrypted && value.encrypted, "KafkaCrypto sent plaintext");
        ok(key.plaintext && value.plaintext, "no key arrived");
        got.push(
          `${new TextDecoder().decode(key.plaintext)} ${
            new TextDecoder().decode(value.plaintext)
          }`,
        );
        if (got.length === 2) break;
      }
      await stream.close();
    } finally {
      await consumer.close(true);
      await readerNode.close();
      writer.kill("SIGTERM");
      await writer.output();
    }
    deepStrictEqual(got, [
      `k-${MARKER}-a ${MARKER}-a`,
      `k-${MARKER}-b ${MARKER}-b`,
    ]);

    // 3. What the broker holds: no plaintext, every message KafkaCrypto's format.
    for (const topic of [toPython, fromPython]) {
      const raw = await readWithKcat(broker.bootstrap, topic);
      strictEqual(raw.length, 2);
      for (const message of raw) {
        strictEqual(message.value[0], 1);
        ok(
          !new TextDecoder("latin1").decode(message.value).includes(MARKER),
          "plaintext on the broker",
        );
        ok(!message.key.includes(MARKER), "plaintext key on the broker");
      }
    }
  } finally {
    for (const node of [ours, theirs]) {
      await Deno.remove(node.folder, { recursive: true });
    }
    await broker.stop();
  }
});
