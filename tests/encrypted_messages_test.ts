/**
 * Messages kept because no key came (lib/transfer/encrypted_messages.ts),
 * then decrypted by reproduce_undecryptable_messages once their sender
 * answers again: real broker, real nodes (provisioned with the task), real
 * key exchange; files rebuilt SHA-512-identical, ENCRYPTED_MESSAGES emptied.
 * A node the root of trust did not allow the topic leaves them in place.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Consumer, Producer } from "@platformatic/kafka";
import { CryptoNode } from "../lib/crypto/crypto_node.ts";
import { openNode } from "../lib/crypto/node.ts";
import { createKafka, KafkaClient } from "../lib/kafka/client.ts";
import { encodeChunk } from "../lib/transfer/chunk.ts";
import {
  ENCRYPTED_MESSAGES_FOLDER,
  keepEncryptedMessage,
  keptMessageStem,
  listKeptMessages,
  topicOfStem,
} from "../lib/transfer/encrypted_messages.ts";
import {
  createTopic,
  makeChunks,
  plaintextSettings,
  randomBytes,
  Reconstructor,
  sha512File,
  topicArgs,
  uniqueTopic,
} from "./helpers/kafka.ts";
import {
  provisionWithTask,
  withEncryptedRig,
} from "./helpers/kafkacrypto_peer.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";
import { BackgroundTask } from "./helpers/background_task.ts";

const ROOT_PASSWORD = "lab root password h20b";
const CHUNK_SIZE = 1000;
/** The tools want a power of two. */
const STORY_CHUNK = 1024;

/** Provisions a node with the project's own task, checked; its config's path. */
async function provision(
  dir: string,
  nodeId: string,
  topics = "",
): Promise<string> {
  const result = await provisionWithTask(dir, nodeId, ROOT_PASSWORD, topics);
  strictEqual(result.code, 0, result.stderr);
  ok(!result.stdout.includes(ROOT_PASSWORD));
  return `${dir}/${nodeId}/${nodeId}.config`;
}

/** A message as read back from the topic. */
interface ReadMessage {
  key: Uint8Array;
  value: Uint8Array;
  partition: number;
  offset: string;
  timestamp: string;
}

/** Reads `count` messages of `topic` from its beginning. */
async function readMessages(
  bootstrap: string,
  topic: string,
  count: number,
): Promise<ReadMessage[]> {
  const settings = plaintextSettings(bootstrap);
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    ...KafkaClient.options(createKafka(settings)),
    groupId: uniqueTopic("kept"),
  });
  const read: ReadMessage[] = [];
  try {
    const stream = await consumer.consume({
      topics: [topic],
      mode: "earliest",
      autocommit: false,
    });
    for await (const message of stream) {
      read.push({
        key: message.key,
        value: message.value,
        partition: message.partition,
        offset: String(message.offset),
        timestamp: String(message.timestamp),
      });
      if (read.length === count) break;
    }
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return read;
}

Deno.test("kept encrypted messages: names as OpenMSIStream's, pairs written whole, half pairs and temporary files ignored", async () => {
  const dir = await makeOutTempDir("kept-names");
  try {
    const where = {
      topic: "lecroy_files",
      partition: 2,
      offset: "41",
      timestamp: String(new Date(2026, 11, 3, 6, 20, 0, 123).getTime()),
    };
    const stem = await keepEncryptedMessage(
      `${ROOT}${dir}`,
      where,
      new Uint8Array([1, 9]),
      new Uint8Array([1, 2, 3]),
    );
    strictEqual(
      stem,
      "encrypted_message_from_lecroy_files_produced_on_Dec_03_2026_at_06_20_00_123000_partition_2_offset_41",
    );
    strictEqual(topicOfStem(stem), "lecroy_files");
    const folder = `${ROOT}${dir}/${ENCRYPTED_MESSAGES_FOLDER}`;
    deepStrictEqual(
      await Deno.readFile(`${folder}/${stem}_value.bin`),
      new Uint8Array([1, 2, 3]),
    );
    deepStrictEqual(
      await Deno.readFile(`${folder}/${stem}_key.bin`),
      new Uint8Array([1, 9]),
    );
    // A value without its key (a crash between the two renames) and a
    // temporary file do not count; OpenMSIStream's own names do.
    const other = keptMessageStem({ ...where, offset: "42" });
    await Deno.writeFile(`${folder}/${other}_value.bin`, new Uint8Array([1]));
    await Deno.writeFile(`${folder}/.writing-1234-x_key.bin`, new Uint8Array());
    const theirs =
      "encrypted_message_from_raw_scans_received_on_Jan_05_2026_at_10_00_00_000000";
    await Deno.writeFile(`${folder}/${theirs}_key.bin`, new Uint8Array());
    await Deno.writeFile(`${folder}/${theirs}_value.bin`, new Uint8Array());
    deepStrictEqual(
      (await listKeptMessages(`${ROOT}${dir}`)).map((
        kept,
      ) => [kept.topic, kept.stem]),
      [["lecroy_files", stem], ["raw_scans", theirs]],
    );
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

Deno.test("reproduce_undecryptable_messages: kept messages stay while no key can come or the node may not read the topic; once the sender answers, files rebuilt SHA-512-identical and ENCRYPTED_MESSAGES emptied", async () => {
  await withEncryptedRig(
    { nodes: "test-h20b-", out: "kept-retry", topic: "kept" },
    async ({ broker, nodesDir, outDir, topic }) => {
      const settings = plaintextSettings(broker.bootstrap);
      const kafka = createKafka(settings);
      const sender = await provision(nodesDir, "sender");
      await provision(nodesDir, "rebuilder");
      await provision(nodesDir, "outsider", "other_files");
      await createTopic(broker.bootstrap, topic, 2);

      // 1. The sender encrypts two files' chunks, sends them and stops.
      const files = new Map([
        ["a.bin", randomBytes(4_500, 1)],
        ["sub_b.bin", randomBytes(2_100, 2)],
      ]);
      const senderNode = await CryptoNode.start(
        await openNode(`${ROOT}${sender}`),
        kafka,
        settings,
        { configPath: `${ROOT}${sender}` },
      );
      const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
        ...KafkaClient.options(kafka),
      });
      let sent = 0;
      for (const [name, bytes] of files) {
        for (const chunk of makeChunks(bytes, name, CHUNK_SIZE)) {
          const key = await senderNode.encrypt(
            topic,
            new TextEncoder().encode(`${name}_chunk_${chunk.chunkIndex}`),
            "key",
          );
          const value = await senderNode.encrypt(
            topic,
            encodeChunk(chunk),
            "value",
          );
          await producer.send({
            messages: [{
              topic,
              key: Buffer.from(key),
              value: Buffer.from(value),
              partition: sent++ % 2,
            }],
            acks: -1,
          });
        }
      }
      await producer.close();
      await senderNode.close();

      // 2. A reader finds no key (the sender is gone) and keeps them all.
      const readerNode = await CryptoNode.start(
        await openNode(`${ROOT}${nodesDir}/rebuilder/rebuilder.config`),
        kafka,
        settings,
      );
      try {
        for (
          const message of await readMessages(broker.bootstrap, topic, sent)
        ) {
          const tried = await readerNode.decrypt(
            topic,
            message.value,
            "value",
            1_000,
          );
          ok(tried.encrypted && !tried.plaintext, "decrypted without a sender");
          await keepEncryptedMessage(
            `${ROOT}${outDir}`,
            { ...message, topic },
            message.key,
            message.value,
          );
        }
      } finally {
        await readerNode.close();
      }
      strictEqual((await listKeptMessages(`${ROOT}${outDir}`)).length, sent);

      const configFor = async (nodeId: string) => {
        const path = `${nodesDir}/${nodeId}-${
          crypto.randomUUID().slice(0, 4)
        }.config`;
        await Deno.writeTextFile(
          `${ROOT}${path}`,
          `[cluster]\nbootstrap.servers = ${broker.bootstrap}\n\n[kafkacrypto]\nnode_id = ${nodeId}\n`,
        );
        return path;
      };
      const kept = async () =>
        (await listKeptMessages(`${ROOT}${outDir}`)).length;

      // 3. A node not allowed the topic: everything stays, one line says why.
      const refused = await runTask("reproduce_undecryptable_messages", [
        "--config",
        await configFor("outsider"),
        "--wait_seconds",
        "1",
        outDir,
      ]);
      strictEqual(refused.code, 3, refused.stdout + refused.stderr);
      const refusedLines = refused.stdout.split("\n").filter((line) =>
        line.includes("stay encrypted")
      );
      strictEqual(refusedLines.length, 1, refused.stdout);
      ok(refusedLines[0].includes(`${sent} message(s) stay encrypted`));
      ok(refusedLines[0].includes(`may not read topic ${topic}`));
      strictEqual(await kept(), sent);

      // 4. The right node, but the sender still down: they stay.
      const rebuilderConfig = await configFor("rebuilder");
      const early = await runTask("reproduce_undecryptable_messages", [
        "--config",
        rebuilderConfig,
        "--wait_seconds",
        "3",
        outDir,
      ]);
      strictEqual(early.code, 3, early.stdout + early.stderr);
      ok(early.stdout.includes(`${sent} message(s) stay encrypted`));
      ok(
        early.stdout.includes("no key that opens it came within 3 s"),
        early.stdout,
      );
      strictEqual(await kept(), sent);
      for (const name of files.keys()) {
        ok(
          !await Deno.stat(`${ROOT}${outDir}/${name}`).then(
            () => true,
            () => false,
          ),
        );
      }

      // 5. The sender runs again (its key kept in its config's oldkeys) and
      // answers: files rebuilt.
      const againNode = await CryptoNode.start(
        await openNode(`${ROOT}${sender}`),
        kafka,
        settings,
        { configPath: `${ROOT}${sender}` },
      );
      let done;
      try {
        // Encrypting starts its answering, as a sender's next upload does.
        await againNode.encrypt(topic, new Uint8Array([0]), "value");
        done = await runTask("reproduce_undecryptable_messages", [
          "--config",
          rebuilderConfig,
          "--wait_seconds",
          "60",
          outDir,
        ]);
      } finally {
        await againNode.close();
      }
      strictEqual(done.code, 0, done.stdout + done.stderr);
      ok(
        done.stdout.includes(
          `${sent} of ${sent} kept message(s) decrypted; 2 file(s) rebuilt`,
        ),
        done.stdout,
      );
      for (const [name, bytes] of files) {
        const original = `${ROOT}${outDir}/original-${name}`;
        await Deno.writeFile(original, bytes);
        strictEqual(
          await sha512File(`${ROOT}${outDir}/${name}`),
          await sha512File(original),
        );
      }
      deepStrictEqual(
        [...Deno.readDirSync(`${ROOT}${outDir}/${ENCRYPTED_MESSAGES_FOLDER}`)],
        [],
      );
      for (const output of [refused, early, done]) {
        ok(!(output.stdout + output.stderr).includes(ROOT_PASSWORD));
      }
    },
  );
});

Deno.test("the whole story with the tools: upload_data_file exits, reconstruct_data_files keeps its messages, the sender's watcher runs again, reproduce_undecryptable_messages rebuilds the file", async () => {
  await withEncryptedRig(
    { nodes: "test-h20b-", out: "kept-story", topic: "story" },
    async ({ broker, nodesDir, outDir, topic }) => {
      await provision(nodesDir, "story_up");
      await provision(nodesDir, "story_rc");
      const configFor = async (nodeId: string) => {
        const path = `${nodesDir}/${nodeId}-tools.config`;
        await Deno.writeTextFile(
          `${ROOT}${path}`,
          `[cluster]\nbootstrap.servers = ${broker.bootstrap}\n\n[consumer]\ngroup.id = new\nauto.offset.reset = earliest\n\n[kafkacrypto]\nnode_id = ${nodeId}\n`,
        );
        return path;
      };
      const upConfig = await configFor("story_up");
      const rcConfig = await configFor("story_rc");
      await Deno.mkdir(`${ROOT}${outDir}/source`);
      const source = `${outDir}/source/story.bin`;
      await Deno.writeFile(
        `${ROOT}${source}`,
        randomBytes(3 * STORY_CHUNK + 7, 3),
      );
      const sent = await runTask("upload_data_file", [
        ...topicArgs(upConfig, topic, STORY_CHUNK),
        source,
      ]);
      strictEqual(sent.code, 0, sent.stdout + sent.stderr);

      // Nobody answers: after its waits the reconstructor keeps all four
      // (--key_wait_seconds: 3 s, then 3 s each, not OpenMSIStream's 60 s
      // and 5 s each, which only made the test wait).
      const rebuilt = `${outDir}/rebuilt`;
      const reconstructor = Reconstructor.start(rcConfig, topic, rebuilt, [
        "--key_wait_seconds",
        "3",
      ]);
      const deadline = Date.now() + 240_000;
      while ((await listKeptMessages(`${ROOT}${rebuilt}`)).length < 4) {
        ok(!reconstructor.exited && Date.now() < deadline, "never kept");
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const stopped = await reconstructor.quit();
      strictEqual(stopped.code, 0, stopped.stderr);

      // The sender's watcher runs again: it answers from its kept keys.
      await Deno.mkdir(`${ROOT}${outDir}/watched`);
      const watcher = new BackgroundTask(
        "upload_data_files_added_to_directory",
        [
          ...topicArgs(upConfig, topic, STORY_CHUNK),
          "--update_seconds=-1",
          `${outDir}/watched`,
        ],
      );
      let done;
      try {
        await watcher.stdout.waitFor("Watching");
        done = await runTask("reproduce_undecryptable_messages", [
          "--config",
          rcConfig,
          "--wait_seconds",
          "60",
          rebuilt,
        ]);
      } finally {
        const ended = await watcher.quit();
        strictEqual(ended.code, 0, ended.stderr);
      }
      strictEqual(done.code, 0, done.stdout + done.stderr);
      ok(
        done.stdout.includes(
          "4 of 4 kept message(s) decrypted; 1 file(s) rebuilt",
        ),
        done.stdout,
      );
      strictEqual(
        await sha512File(`${ROOT}${rebuilt}/story.bin`),
        await sha512File(`${ROOT}${source}`),
      );
      strictEqual((await listKeptMessages(`${ROOT}${rebuilt}`)).length, 0);
      for (const output of [sent, stopped, done]) {
        ok(!(output.stdout + output.stderr).includes(ROOT_PASSWORD));
      }
    },
  );
});
