/**
 * End-to-end encryption in the transfer tools, on a real broker: configs
 * with a `[kafkacrypto]` section, nodes made by `deno task provision_node`.
 * Files go up with upload_data_file and the folder watcher and come back
 * identical (SHA-512) through reconstruct_data_files; kcat, reading the
 * broker, finds no plaintext on the data topic or the repartition topic; a
 * reconstructor started after upload_data_file exited gets its key from a
 * later run of an uploader on that node (the kept keys); a node that may not
 * use the topic, or whose files are broken, is one line and exit 1; no
 * password or secret key bytes appear in any output or file written.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { encodeBase64 } from "../lib/crypto/base64.ts";
import { CryptoNode } from "../lib/crypto/crypto_node.ts";
import { openNode } from "../lib/crypto/node.ts";
import { createKafka } from "../lib/kafka/client.ts";
import { parseKafkaConfig } from "../lib/kafka/config.ts";
import { encodeChunk } from "../lib/transfer/chunk.ts";
import { repartitionTopic } from "../lib/transfer/repartition.ts";
import { listKeptMessages } from "../lib/transfer/encrypted_messages.ts";
import { BackgroundTask } from "./helpers/background_task.ts";
import {
  makeChunks,
  produceRaw,
  Reconstructor,
  sha512File,
  startTestBroker,
  topicArgs,
  uniqueTopic,
} from "./helpers/kafka.ts";
import { readWithKcat } from "./helpers/kafka_readers.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";

const PASSWORD = "h20a encrypted transfer root password";
const MARKER = "PLAINTEXT-MARKER-7f3a9c";
/** The tasks may write node files only under .kafkacrypto. */
const NODES = `.kafkacrypto/test-${crypto.randomUUID().slice(0, 8)}`;
const CHUNK = 64 * 1024;

/** Every output the tools printed, checked for secrets at the end. */
const outputs: string[] = [];

/** Provisions `nodeId` with provision_node (extra flags e.g. --topics). */
async function provision(nodeId: string, extra: string[] = []): Promise<void> {
  const result = await runTask(
    "provision_node",
    ["--node_id", nodeId, "--dir", NODES, ...extra],
    { env: { KAFKACRYPTO_ROOT_PASSWORD: PASSWORD } },
  );
  outputs.push(result.stdout, result.stderr);
  strictEqual(result.code, 0, result.stderr);
}

/** The node's config file. */
function nodeConfig(nodeId: string): string {
  return `${NODES}/${nodeId}/${nodeId}.config`;
}

/** A tools' config for `bootstrap` that encrypts as `nodeId`. */
async function encryptedConfig(
  dir: string,
  bootstrap: string,
  nodeId: string,
): Promise<string> {
  const path = `${dir}/${nodeId}.config`;
  await Deno.writeTextFile(
    `${ROOT}${path}`,
    `[cluster]\nbootstrap.servers = ${bootstrap}\n\n[producer]\nlinger.ms = 20\n\n` +
      `[consumer]\ngroup.id = new\nauto.offset.reset = earliest\nsession.timeout.ms = 6000\nheartbeat.interval.ms = 1000\n\n` +
      `[kafkacrypto]\nconfig_file = ${nodeConfig(nodeId)}\n`,
  );
  return path;
}

/** Text with the marker throughout, `lines` lines. */
function markedText(lines: number): string {
  return Array.from(
    { length: lines },
    (_, i) => `${MARKER} line ${i} of instrument data\n`,
  ).join("");
}

/** The secrets of every node: its .crypto and .seed bytes, base64 and hex. */
async function secretTexts(nodes: string[]): Promise<string[]> {
  const texts: string[] = [];
  for (const node of nodes) {
    for (const suffix of ["crypto", "seed"]) {
      const bytes = await Deno.readFile(
        `${ROOT}${NODES}/${node}/${node}.${suffix}`,
      ).catch(() => undefined);
      if (!bytes) continue;
      texts.push(
        encodeBase64(bytes),
        Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""),
      );
    }
  }
  return texts;
}

/** Every file under `dir`, as text (bytes read as Latin-1). */
async function filesText(dir: string): Promise<string> {
  let text = "";
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) text += await filesText(path);
    else if (entry.isFile) {
      text += new TextDecoder("latin1").decode(await Deno.readFile(path));
    }
  }
  return text;
}

/** Whether any key or value kcat read contains `text`. */
function kcatHits(
  messages: { key: string; value: Uint8Array }[],
  text: string,
): number {
  const latin1 = new TextDecoder("latin1");
  return messages.filter((m) =>
    m.key.includes(text) || latin1.decode(m.value).includes(text)
  ).length;
}

Deno.test("encrypted transfer: upload, spread chunks and the watcher rebuilt identical; kcat sees no plaintext on the data or repartition topic; keys reach a later reconstructor; refusals are one line; no secret printed", async (t) => {
  const broker = await startTestBroker();
  const dir = await makeOutTempDir("encrypted-transfer");
  const seedsBefore: string[] = [];
  try {
    await provision("uploader");
    await provision("rebuilder");
    await provision("elsewhere", ["--topics", "other_root"]);
    await provision("broken");
    seedsBefore.push(
      ...await secretTexts(["uploader", "rebuilder", "elsewhere", "broken"]),
    );
    const upConfig = await encryptedConfig(dir, broker.bootstrap, "uploader");
    const rcConfig = await encryptedConfig(dir, broker.bootstrap, "rebuilder");
    const topic = uniqueTopic("encrypted");
    const group = `enc-${crypto.randomUUID().slice(0, 8)}`;

    await t.step("upload_data_file sends ciphertext and exits", async () => {
      await Deno.mkdir(`${ROOT}${dir}/source`);
      await Deno.writeTextFile(`${ROOT}${dir}/source/a.txt`, markedText(9000));
      await Deno.writeFile(
        `${ROOT}${dir}/source/b.bin`,
        crypto.getRandomValues(new Uint8Array(60_000)),
      );
      const sent = await runTask("upload_data_file", [
        ...topicArgs(upConfig, topic, CHUNK),
        `${dir}/source/a.txt`,
        `${dir}/source/b.bin`,
      ]);
      outputs.push(sent.stdout, sent.stderr);
      strictEqual(sent.code, 0, `${sent.stdout}\n${sent.stderr}`);
      ok(
        (sent.stdout + sent.stderr).includes(
          "Encrypting end to end as KafkaCrypto node uploader",
        ),
      );
    });

    await t.step(
      "a sender that spreads chunks (as OpenMSIStream) encrypts too",
      async () => {
        // Spread over partitions without the whole-file header: a named
        // group forwards these through its repartition topic.
        const bytes = new TextEncoder().encode(markedText(3000));
        const settings = parseKafkaConfig(
          `[cluster]\nbootstrap.servers = ${broker.bootstrap}\n`,
          "test",
          () => undefined,
        );
        const config = `${ROOT}${nodeConfig("uploader")}`;
        const node = await CryptoNode.start(
          await openNode(config, { topic }),
          createKafka(settings),
          settings,
          { configPath: config },
        );
        try {
          const values = [];
          for (const chunk of makeChunks(bytes, "c.txt", CHUNK)) {
            values.push(await node.encrypt(topic, encodeChunk(chunk), "value"));
          }
          await produceRaw(broker.bootstrap, topic, values, "none", 5);
        } finally {
          await node.close();
        }
      },
    );

    await t.step(
      "a reconstructor started later gets the keys from a later uploader run; files identical",
      async () => {
        const reconstructor = Reconstructor.start(
          rcConfig,
          topic,
          `${dir}/rebuilt`,
          ["--consumer_group_ID", group],
        );
        // No uploader is up: it says in one line what it waits for.
        await reconstructor.stdout.waitFor("Waiting up to 60 s for the key");
        const waiting = reconstructor.stdout.text.split("\n").filter((line) =>
          line.includes("Waiting up to")
        );
        ok(
          waiting[0].includes(`for the key of topic ${topic} (key index `) &&
            waiting[0].endsWith(`asked for on ${topic}.reqs`),
          waiting[0],
        );
        // A later run of an uploader on the same node answers from its kept keys.
        await Deno.mkdir(`${ROOT}${dir}/watched`);
        const watcher = new BackgroundTask(
          "upload_data_files_added_to_directory",
          [
            ...topicArgs(upConfig, topic, CHUNK),
            "--settle_seconds=0.5",
            "--update_seconds=-1",
            `${dir}/watched`,
          ],
        );
        try {
          await watcher.stdout.waitFor("Watching");
          await Deno.writeTextFile(
            `${ROOT}${dir}/watched/d.txt`,
            markedText(2000),
          );
          const sizes: [string, number][] = [];
          for (
            const [from, name] of [
              ["source", "a.txt"],
              ["source", "b.bin"],
              ["watched", "d.txt"],
            ]
          ) {
            const size =
              (await Deno.stat(`${ROOT}${dir}/${from}/${name}`)).size;
            sizes.push([`${dir}/rebuilt/${name}`, size]);
          }
          sizes.push([
            `${dir}/rebuilt/c.txt`,
            new TextEncoder().encode(markedText(3000)).length,
          ]);
          const run = await reconstructor.finish(sizes);
          outputs.push(run.stdout, run.stderr);
          for (
            const [from, name] of [["source", "a.txt"], ["source", "b.bin"], [
              "watched",
              "d.txt",
            ]]
          ) {
            strictEqual(
              await sha512File(`${ROOT}${dir}/rebuilt/${name}`),
              await sha512File(`${ROOT}${dir}/${from}/${name}`),
              name,
            );
          }
          strictEqual(
            await Deno.readTextFile(`${ROOT}${dir}/rebuilt/c.txt`),
            markedText(3000),
          );
        } finally {
          const ended = await watcher.quit();
          outputs.push(ended.stdout, ended.stderr);
          strictEqual(ended.code, 0, ended.stderr);
        }
      },
    );

    await t.step(
      "kcat finds no plaintext on the data topic or the repartition topic",
      async () => {
        const data = await readWithKcat(broker.bootstrap, topic);
        const forwarded = await readWithKcat(
          broker.bootstrap,
          repartitionTopic(topic, group),
        );
        ok(data.length > 0 && forwarded.length > 0);
        deepStrictEqual(
          [MARKER, "a.txt", "d.txt", "c.txt", "_chunk_"].map((text) =>
            kcatHits([...data, ...forwarded], text)
          ),
          [0, 0, 0, 0, 0],
        );
        // Every value is KafkaCrypto's format.
        ok([...data, ...forwarded].every((m) => m.value[0] === 0x01));
      },
    );

    await t.step(
      "a message whose key never comes is kept under ENCRYPTED_MESSAGES, with a warning",
      async () => {
        const lostTopic = uniqueTopic("lost_key");
        // A producer whose key is kept nowhere and is gone before anyone asks.
        const settings = parseKafkaConfig(
          `[cluster]\nbootstrap.servers = ${broker.bootstrap}\n`,
          "test",
          () => undefined,
        );
        const node = await CryptoNode.start(
          await openNode(`${ROOT}${nodeConfig("uploader")}`),
          createKafka(settings),
          settings,
        );
        let sealed: Uint8Array;
        try {
          const [chunk] = makeChunks(
            new TextEncoder().encode(markedText(10)),
            "e.txt",
            CHUNK,
          );
          sealed = await node.encrypt(lostTopic, encodeChunk(chunk), "value");
        } finally {
          await node.close();
        }
        await produceRaw(broker.bootstrap, lostTopic, [sealed]);
        // --key_wait_seconds: the test need not wait OpenMSIStream's 60 s.
        const reconstructor = Reconstructor.start(
          rcConfig,
          lostTopic,
          `${dir}/lost`,
          ["--key_wait_seconds", "3"],
        );
        const lost = `${ROOT}${dir}/lost`;
        const deadline = Date.now() + 150_000;
        while ((await listKeptMessages(lost)).length === 0) {
          ok(!reconstructor.exited && Date.now() < deadline, "never kept");
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        const run = await reconstructor.quit();
        outputs.push(run.stdout, run.stderr);
        strictEqual(run.code, 0, run.stderr);
        // OpenMSIStream's names, with the partition and offset added.
        const [kept] = await listKeptMessages(lost);
        strictEqual(kept.topic, lostTopic);
        ok(
          kept.stem.startsWith(
            `encrypted_message_from_${lostTopic}_produced_on_`,
          ) && kept.stem.endsWith("_partition_0_offset_0"),
          kept.stem,
        );
        deepStrictEqual(await Deno.readFile(kept.valuePath), sealed);
        strictEqual(await Deno.readTextFile(kept.keyPath), "crafted_0");
        ok(
          (run.stdout + run.stderr).includes(
            `message at ${lostTopic}/0/0 could not be decrypted; kept as`,
          ),
          run.stdout + run.stderr,
        );
      },
    );

    await t.step(
      "a node not allowed the topic, or with broken files: one line, exit 1",
      async () => {
        await Deno.remove(`${ROOT}${NODES}/broken/broken.crypto`);
        const cases = [
          ["elsewhere", "the node's chain is not accepted"],
          ["broken", "broken.crypto"],
        ] as const;
        for (const [node, expected] of cases) {
          const config = await encryptedConfig(dir, broker.bootstrap, node);
          for (
            const [task, target] of [
              ["upload_data_file", `${dir}/source/a.txt`],
              ["reconstruct_data_files", `${dir}/refused`],
            ]
          ) {
            const result = await runTask(task, [
              ...topicArgs(config, topic),
              target,
            ]);
            outputs.push(result.stdout, result.stderr);
            strictEqual(result.code, 1, `${task} ${node}: ${result.stderr}`);
            const lines = result.stderr.trim().split("\n");
            strictEqual(lines.length, 1, `${task} ${node}: ${result.stderr}`);
            ok(lines[0].includes(expected), lines[0]);
          }
        }
      },
    );

    await t.step(
      "no password or secret key bytes in any output or file written",
      async () => {
        const secrets = [
          PASSWORD,
          ...seedsBefore,
          ...await secretTexts(["uploader", "rebuilder", "elsewhere"]),
        ];
        const written = await filesText(`${ROOT}${dir}`);
        for (const secret of secrets) {
          ok(
            outputs.every((output) => !output.includes(secret)),
            "a secret was printed",
          );
          ok(!written.includes(secret), "a secret was written into out/");
        }
      },
    );
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
    await Deno.remove(`${ROOT}${NODES}`, { recursive: true }).catch(() => {});
    await broker.stop();
  }
});
