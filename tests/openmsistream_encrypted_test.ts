/**
 * The encrypted OpenMSIStream harness (tests/helpers/openmsistream.ts)
 * proved OpenMSIStream -> OpenMSIStream on a real broker: its
 * DataFileUploadDirectory with `[kafkacrypto] node_id` and a node provisioned
 * by `deno task provision_node`, its DataFileDownloadDirectory with a node
 * of KafkaCrypto's simple-provision.py (same root password): the file
 * arrives SHA-512-identical, the broker (read with kcat) holds no plaintext.
 * And OpenMSIStream's upload_data_file: it does not stay to answer key
 * requests, but keeps its keys in the node's config (`oldkeys`). And the
 * messages kept in ENCRYPTED_MESSAGES here are read by OpenMSIStream's own
 * reproduce_undecryptable_messages tool (our names are a superset of its).
 *
 * Not testable here: OpenMSIStream's own DataFileDownloadDirectory never
 * writes ENCRYPTED_MESSAGES with this KafkaCrypto (0.9.11.4dev0): naming
 * the file, `msg.timestamp` is an int where it unpacks a tuple; the
 * TypeError kills the worker thread (restarted) and the message is dropped.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { readNodeFiles } from "../lib/crypto/node_files.ts";
import { readOldKeys } from "../lib/crypto/old_keys.ts";
import { countMessages, sha512File } from "./helpers/kafka.ts";
import { markerHits, readWithKcat } from "./helpers/kafka_readers.ts";
import { withEncryptedRig } from "./helpers/kafkacrypto_peer.ts";
import {
  askForKeysEvery,
  OpenMsiDirectoryUpload,
  OpenMsiDownloadDirectory,
  openMsiUploadFile,
  PEER_PYTHONPATH,
  provisionOpenMsiNode,
  writeOpenMsiConfig,
} from "./helpers/openmsistream.ts";
import { ROOT } from "./helpers/run_task.ts";
import { keepEncryptedMessage } from "../lib/transfer/encrypted_messages.ts";

const ROOT_PASSWORD = "lab root password h20b";
const MARKER = "PLAINTEXT-MARKER-h20b-omsi";
const CHUNK_SIZE = 4096;

/** File bytes with the marker written all through them. */
function markedBytes(size: number): Uint8Array {
  const text = new TextEncoder().encode(`${MARKER} `);
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = text[i % text.length];
  return bytes;
}

Deno.test("OpenMSIStream -> OpenMSIStream encrypted (nodes from provision_node and simple-provision.py): file SHA-512-identical, no plaintext on the broker", async () => {
  await withEncryptedRig(
    { nodes: "test-omsi-", out: "omsi-encrypted", topic: "omsi_enc" },
    async ({ broker, nodesDir, outDir, topic }) => {
      await provisionOpenMsiNode(
        nodesDir,
        "omsi_sender",
        ROOT_PASSWORD,
        broker.bootstrap,
      );
      const receiverNode = await provisionOpenMsiNode(
        nodesDir,
        "omsi_receiver",
        ROOT_PASSWORD,
        broker.bootstrap,
        "simple-provision.py",
        topic,
      );
      // Both sides are KafkaCrypto's own here: its answer can come before the
      // reader reads the keys topic, so the reader asks again every 3 s, not 60.
      await askForKeysEvery(receiverNode, 3);
      const senderConfig = await writeOpenMsiConfig(
        nodesDir,
        broker.bootstrap,
        {
          nodeId: "omsi_sender",
        },
      );
      const receiverConfig = await writeOpenMsiConfig(
        nodesDir,
        broker.bootstrap,
        { nodeId: "omsi_receiver" },
      );
      const watched = `${ROOT}${outDir}/watched`;
      const rebuilt = `${ROOT}${outDir}/rebuilt`;
      await Deno.mkdir(watched);
      const size = 5 * CHUNK_SIZE + 123;
      await Deno.writeFile(`${watched}/marked.bin`, markedBytes(size));

      const upload = await OpenMsiDirectoryUpload.start(
        broker.bootstrap,
        senderConfig,
        topic,
        watched,
        CHUNK_SIZE,
      );
      // Read only once everything is sent: the uploader's KafkaCrypto then
      // already listens for key requests, well within the reader's 60 s (a
      // message that misses them is dropped, see the module's text).
      const deadline = Date.now() + 120_000;
      while (
        await countMessages(broker.bootstrap, topic).catch(() => 0) < 6 &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 500));
      }
      const download = await OpenMsiDownloadDirectory.start(
        broker.bootstrap,
        receiverConfig,
        topic,
        rebuilt,
      );
      let missing: string[];
      try {
        // The uploader runs meanwhile: it answers the receiver's key requests.
        missing = await download.waitForCopies(
          [[`${rebuilt}/marked.bin`, `${watched}/marked.bin`]],
          240_000,
        );
      } finally {
        const stopped = await download.stop();
        await upload.finish(broker.bootstrap, topic, 6);
        ok(!stopped.stdout.includes(ROOT_PASSWORD));
      }
      strictEqual(missing.length, 0, "OpenMSIStream did not rebuild the file");
      strictEqual(
        await sha512File(`${rebuilt}/marked.bin`),
        await sha512File(`${watched}/marked.bin`),
      );
      strictEqual(
        await Deno.stat(`${rebuilt}/ENCRYPTED_MESSAGES`).then(
          (s) =>
            s.isDirectory
              ? [...Deno.readDirSync(`${rebuilt}/ENCRYPTED_MESSAGES`)].length
              : -1,
          () => 0,
        ),
        0,
      );
      strictEqual(await countMessages(broker.bootstrap, topic), 6);
      strictEqual(
        await markerHits(broker.bootstrap, topic, MARKER, { encrypted: true }),
        0,
      );
    },
  );
});

Deno.test("OpenMSIStream's encrypted upload_data_file sends encrypted and exits, keeping its key for the topic in the node's oldkeys (for a later run to answer with)", async () => {
  await withEncryptedRig(
    { nodes: "test-omsi-", out: "omsi-upload-file", topic: "omsi_file" },
    async ({ broker, nodesDir, outDir, topic }) => {
      const nodeConfig = await provisionOpenMsiNode(
        nodesDir,
        "omsi_one_file",
        ROOT_PASSWORD,
        broker.bootstrap,
      );
      strictEqual(
        (await readOldKeys(await readNodeFiles(nodeConfig))).length,
        0,
      );
      const config = await writeOpenMsiConfig(nodesDir, broker.bootstrap, {
        nodeId: "omsi_one_file",
      });
      const file = `${ROOT}${outDir}/one.bin`;
      await Deno.writeFile(file, markedBytes(2 * CHUNK_SIZE));
      await openMsiUploadFile(
        broker.bootstrap,
        config,
        topic,
        file,
        CHUNK_SIZE,
      );
      strictEqual(await countMessages(broker.bootstrap, topic), 2);
      strictEqual(await markerHits(broker.bootstrap, topic, MARKER), 0);
      // Its key for the topic, kept for a later run to answer with.
      const kept = await readOldKeys(await readNodeFiles(nodeConfig));
      ok(
        kept.some((key) => key.root === topic),
        JSON.stringify(kept.map((k) => k.root)),
      );
    },
  );
});

Deno.test("messages kept here are read by OpenMSIStream's own reproduce_undecryptable_messages: each sent back, bytes identical, to the topic named in the file name", async () => {
  await withEncryptedRig(
    { nodes: "test-omsi-", out: "omsi-reproduce", topic: "omsi_back" },
    async ({ broker, nodesDir, outDir, topic }) => {
      const nodeConfig = await provisionOpenMsiNode(
        nodesDir,
        "omsi_reproducer",
        ROOT_PASSWORD,
        broker.bootstrap,
      );
      const messages = [0, 1, 2].map((i) => ({
        key: new TextEncoder().encode(`key ${i}`),
        value: new Uint8Array([1, i, 255, 0, i]),
      }));
      // Same millisecond for all three: the partition and offset keep them apart.
      for (const [i, message] of messages.entries()) {
        await keepEncryptedMessage(
          `${ROOT}${outDir}`,
          {
            topic,
            partition: 0,
            offset: String(i),
            timestamp: "1764742800123",
          },
          message.key,
          message.value,
        );
      }
      const tool = await new Deno.Command("/usr/bin/python3", {
        args: [
          "-m",
          "openmsistream.tools.undecryptable_messages.reproduce_undecryptable_messages",
          nodeConfig,
          `${ROOT}${outDir}/ENCRYPTED_MESSAGES`,
        ],
        env: { PYTHONPATH: PEER_PYTHONPATH, PYTHONDONTWRITEBYTECODE: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const printed = new TextDecoder().decode(tool.stdout);
      strictEqual(
        tool.code,
        0,
        printed + new TextDecoder().decode(tool.stderr),
      );
      strictEqual(
        printed.split("\n").filter((l) => l.startsWith("Reproducing")).length,
        3,
      );
      const raw = await readWithKcat(broker.bootstrap, topic);
      deepStrictEqual(
        raw.map((message) => [message.key, [...message.value]]).sort(),
        messages.map((m) => [new TextDecoder().decode(m.key), [...m.value]])
          .sort(),
      );
    },
  );
});
