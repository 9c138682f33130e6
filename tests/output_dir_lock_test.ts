/**
 * reproduce_undecryptable_messages and a reconstructor never work in one
 * output folder at once (lib/transfer/reconstructor.ts's claimOutputDir):
 * started while a reconstructor reads into the folder, the reproduce task
 * says so in one line, exits 1 and leaves the kept message untouched;
 * started while the reproduce task waits for a key there, the reconstructor
 * (and process_data_files) say so in one line and exit 1. Real broker,
 * real nodes, real processes.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { CryptoNode } from "../lib/crypto/crypto_node.ts";
import { openNode } from "../lib/crypto/node.ts";
import { createKafka } from "../lib/kafka/client.ts";
import { encodeChunk } from "../lib/transfer/chunk.ts";
import {
  ENCRYPTED_MESSAGES_FOLDER,
  keepEncryptedMessage,
} from "../lib/transfer/encrypted_messages.ts";
import { BackgroundTask } from "./helpers/background_task.ts";
import {
  createTopic,
  makeChunks,
  plaintextSettings,
  randomBytes,
  Reconstructor,
  topicArgs,
} from "./helpers/kafka.ts";
import {
  provisionWithTask,
  withEncryptedRig,
} from "./helpers/kafkacrypto_peer.ts";
import { ROOT, runTask } from "./helpers/run_task.ts";

const PASSWORD = "output folder lock root password";

/** Every file under `dir` with its bytes, as text (sorted). */
async function snapshot(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const bytes = await Deno.readFile(`${dir}/${entry.name}`);
    found.push(`${entry.name} ${bytes.join(",")}`);
  }
  return found.sort();
}

/** The one line of stderr, checked to be one. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  strictEqual(lines.length, 1, stderr);
  return lines[0];
}

Deno.test("output folder lock: reproduce_undecryptable_messages beside a running reconstructor is one line, exit 1, kept message untouched; a reconstructor or processor beside a running reproduce is one line, exit 1", async () => {
  await withEncryptedRig(
    { nodes: "lock-", out: "out_lock", topic: "lock" },
    async ({ broker, nodesDir, outDir, topic }) => {
      for (const node of ["sender", "rebuilder"]) {
        const made = await provisionWithTask(nodesDir, node, PASSWORD);
        strictEqual(made.code, 0, made.stderr);
      }
      await createTopic(broker.bootstrap, topic, 1);
      // One chunk sealed by a sender that then stops: no key will come.
      const settings = plaintextSettings(broker.bootstrap);
      const sender = `${ROOT}${nodesDir}/sender/sender.config`;
      const senderNode = await CryptoNode.start(
        await openNode(sender),
        createKafka(settings),
        settings,
      );
      const [chunk] = makeChunks(randomBytes(500, 7), "a.bin", 1024);
      const value = await senderNode.encrypt(
        topic,
        encodeChunk(chunk),
        "value",
      );
      const key = await senderNode.encrypt(
        topic,
        new TextEncoder().encode("a.bin_chunk_1"),
        "key",
      );
      await senderNode.close();
      await keepEncryptedMessage(
        `${ROOT}${outDir}`,
        { topic, partition: 0, offset: "0" },
        key,
        value,
      );
      const keptDir = `${ROOT}${outDir}/${ENCRYPTED_MESSAGES_FOLDER}`;
      const before = await snapshot(keptDir);
      const config = `${nodesDir}/rebuilder.config`;
      await Deno.writeTextFile(
        `${ROOT}${config}`,
        `[cluster]\nbootstrap.servers = ${broker.bootstrap}\n\n[consumer]\nauto.offset.reset = earliest\n\n` +
          `[kafkacrypto]\nconfig_file = ${nodesDir}/rebuilder/rebuilder.config\n`,
      );

      // 1. A reconstructor works in the folder: the reproduce task refuses.
      const reconstructor = Reconstructor.start(config, topic, outDir);
      try {
        await reconstructor.stdout.waitFor("Reading topic");
        const refused = await runTask("reproduce_undecryptable_messages", [
          "--config",
          config,
          "--wait_seconds",
          "2",
          outDir,
        ]);
        strictEqual(refused.code, 1, refused.stdout + refused.stderr);
        ok(
          oneLine(refused.stderr).includes(
            `${outDir} is in use by a running reconstruct_data_files or process_data_files`,
          ),
          refused.stderr,
        );
        deepStrictEqual(await snapshot(keptDir), before);
      } finally {
        strictEqual((await reconstructor.quit()).code, 0);
      }

      // 2. The reproduce task waits for the key: the others refuse to start.
      const reproduce = new BackgroundTask("reproduce_undecryptable_messages", [
        "--config",
        config,
        "--wait_seconds",
        "20",
        outDir,
      ]);
      await reproduce.stdout.waitFor("asking for their keys");
      const rebuild = await runTask("reconstruct_data_files", [
        ...topicArgs(config, topic),
        outDir,
      ]);
      strictEqual(rebuild.code, 1, rebuild.stdout + rebuild.stderr);
      ok(
        oneLine(rebuild.stderr).includes(
          `${outDir} is in use by reproduce_undecryptable_messages`,
        ),
        rebuild.stderr,
      );
      const processing = await runTask("process_data_files", [
        ...topicArgs(config, topic),
        "--working_dir",
        outDir,
        "--processor",
        "scripts/processors/sha512_check.ts",
      ]);
      strictEqual(processing.code, 1, processing.stdout + processing.stderr);
      ok(
        oneLine(processing.stderr).includes(
          `${outDir} is in use by reproduce_undecryptable_messages`,
        ),
        processing.stderr,
      );
      const { code } = await reproduce.child.status;
      strictEqual(code, 3, "the key never came: the message stays");
      deepStrictEqual(await snapshot(keptDir), before);
    },
  );
});
