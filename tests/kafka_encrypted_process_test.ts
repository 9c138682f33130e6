/**
 * process_data_files with a `[kafkacrypto]` config on a real broker: the
 * folder watcher uploads encrypted (and stays up, answering the key
 * requests), the processor, as a node of its own, decrypts and hands every
 * file to the processor once: the same names, sizes, SHA-512 and
 * memory/disk split as a plain run of the same files, every registry row
 * `processed`, nothing kept undecrypted; kcat finds neither the marker in
 * the contents nor the file names on the topic. The metadata reproducer
 * run so encrypts its JSON too (as OpenMSIStream's reproducers do): kcat
 * finds no file name on its output topic, and a third node decrypts every
 * message to the files' names and SHA-512.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { CryptoNode } from "../lib/crypto/crypto_node.ts";
import { openNode } from "../lib/crypto/node.ts";
import { createKafka } from "../lib/kafka/client.ts";
import { ENCRYPTED_MESSAGES_FOLDER } from "../lib/transfer/encrypted_messages.ts";
import { BackgroundTask } from "./helpers/background_task.ts";
import {
  createTopic,
  plaintextSettings,
  sha512File,
  topicArgs,
  uniqueTopic,
  writeTestConfig,
} from "./helpers/kafka.ts";
import { markerHits, readWithKcat } from "./helpers/kafka_readers.ts";
import {
  provisionWithTask,
  withEncryptedRig,
} from "./helpers/kafkacrypto_peer.ts";
import { ROOT } from "./helpers/run_task.ts";

const PASSWORD = "encrypted processing root password";
const MARKER = "PROCESS-MARKER-4b7e02";
/** In every file name: looked for on the broker too. */
const NAME_TOKEN = "procfile";
const CHUNK = 16 * 1024;

/** Appends name, size, SHA-512, memory or disk and the topic per file. */
const RECORDER = `
export async function processFile(file, context) {
  const from = file.bytes ? "memory" : "disk";
  const bytes = file.bytes ?? await Deno.readFile(file.path);
  const line = [file.relativePath, bytes.length, file.sha512, from].join(" ");
  await Deno.writeTextFile(context.options.log, line + "\\n", { append: true });
}
`;

/** Files with the marker all through them: four small, one above 1 MiB. */
async function writeFiles(folder: string): Promise<void> {
  await Deno.mkdir(`${ROOT}${folder}`, { recursive: true });
  const sizes = [700, 5_000, CHUNK, 3 * CHUNK + 5, 1_500_000];
  for (const [i, size] of sizes.entries()) {
    const line = `${MARKER} sample ${i} reading\n`;
    const text = line.repeat(Math.ceil(size / line.length)).slice(0, size);
    await Deno.writeTextFile(`${ROOT}${folder}/${NAME_TOKEN}_${i}.txt`, text);
  }
}

/** The recorder's lines, sorted; waits until there are `count`. */
async function recorded(
  log: string,
  count: number,
  task: BackgroundTask,
): Promise<string[]> {
  const deadline = Date.now() + 120_000;
  while (true) {
    const text = await Deno.readTextFile(`${ROOT}${log}`).catch(() => "");
    const lines = text.split("\n").filter((line) => line).sort();
    if (lines.length >= count) return lines;
    if (task.exited || Date.now() > deadline) {
      throw new Error(
        `${log} got ${lines.length} of ${count} lines:\n${task.stdout.text}${task.stderr.text}`,
      );
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** The outcomes in a working folder's registry. */
function outcomes(workingDir: string): string[] {
  const db = new DatabaseSync(`${ROOT}${workingDir}/registry.db`, {
    readOnly: true,
  });
  try {
    return db.prepare("SELECT outcome FROM files").all().map((row) =>
      String(row.outcome)
    );
  } finally {
    db.close();
  }
}

/**
 * Watches `folder` into `topic` (with `configs.upload`) and processes it
 * into `work` (with `configs.process`); the recorder's lines and the
 * processor's output.
 */
async function uploadAndProcess(
  configs: { upload: string; process: string },
  topic: string,
  folder: string,
  work: string,
  recorder: string,
): Promise<{ lines: string[]; processorOut: string }> {
  const log = `${work}.log`;
  const watcher = new BackgroundTask("upload_data_files_added_to_directory", [
    ...topicArgs(configs.upload, topic, CHUNK),
    "--settle_seconds=0.5",
    "--update_seconds=-1",
    folder,
  ]);
  const processor = new BackgroundTask("process_data_files", [
    ...topicArgs(configs.process, topic),
    "--working_dir",
    work,
    "--processor",
    recorder,
    "--max_file_mb",
    "1",
    "--update_seconds",
    "-1",
    "--processor_options",
    `log=${log}`,
  ]);
  try {
    const lines = await recorded(log, 5, processor);
    return { lines, processorOut: processor.stdout.text };
  } finally {
    strictEqual((await processor.quit()).code, 0, processor.stderr.text);
    strictEqual((await watcher.quit()).code, 0, watcher.stderr.text);
  }
}

Deno.test("encrypted process_data_files: every file processed once, as in a plain run (names, sizes, SHA-512, memory/disk); nothing kept undecrypted; kcat sees no marker or file name", async () => {
  await withEncryptedRig(
    { nodes: "proc-", out: "enc_proc", topic: "enc_proc" },
    async ({ broker, nodesDir, outDir, topic }) => {
      for (const node of ["uploader", "processor"]) {
        const made = await provisionWithTask(nodesDir, node, PASSWORD, topic);
        strictEqual(made.code, 0, made.stderr);
      }
      const configOf = async (node: string) => {
        const path = `${nodesDir}/${node}-run.config`;
        await Deno.writeTextFile(
          `${ROOT}${path}`,
          `[cluster]\nbootstrap.servers = ${broker.bootstrap}\n\n[producer]\nlinger.ms = 20\n\n` +
            `[consumer]\nauto.offset.reset = earliest\nsession.timeout.ms = 6000\nheartbeat.interval.ms = 1000\n\n` +
            `[kafkacrypto]\nconfig_file = ${nodesDir}/${node}/${node}.config\n`,
        );
        return path;
      };
      const recorder = `${outDir}/recorder.ts`;
      await Deno.writeTextFile(`${ROOT}${recorder}`, RECORDER);
      await createTopic(broker.bootstrap, topic, 2);

      // The same files, plain, for the expected results.
      const plainTopic = uniqueTopic("plain_proc");
      await writeFiles(`${outDir}/plain_source`);
      const plainConfig = await writeTestConfig(outDir, broker.bootstrap);
      const plain = await uploadAndProcess(
        { upload: plainConfig, process: plainConfig },
        plainTopic,
        `${outDir}/plain_source`,
        `${outDir}/plain_work`,
        recorder,
      );
      ok(plain.lines.some((line) => line.endsWith(" disk")), plain.lines[0]);
      ok(plain.lines.some((line) => line.endsWith(" memory")));

      // Encrypted: the watcher as node uploader; the processor reads as
      // node processor, its config's [kafkacrypto] only differing.
      await writeFiles(`${outDir}/enc_source`);
      const work = `${outDir}/enc_work`;
      const encrypted = await uploadAndProcess(
        {
          upload: await configOf("uploader"),
          process: await configOf("processor"),
        },
        topic,
        `${outDir}/enc_source`,
        work,
        recorder,
      );
      ok(
        encrypted.processorOut.includes(
          "Decrypting end to end as KafkaCrypto node processor",
        ),
        encrypted.processorOut,
      );
      deepStrictEqual(encrypted.lines, plain.lines);
      deepStrictEqual(outcomes(work), Array(5).fill("processed"));
      ok(
        !await Deno.stat(`${ROOT}${work}/${ENCRYPTED_MESSAGES_FOLDER}`).then(
          () => true,
          () => false,
        ),
        "messages were kept undecrypted",
      );
      // Nothing readable on the broker; the plain topic shows the check bites.
      for (const text of [MARKER, NAME_TOKEN]) {
        strictEqual(
          await markerHits(broker.bootstrap, topic, text, { encrypted: true }),
          0,
          `${text} in plaintext on ${topic}`,
        );
        ok(await markerHits(broker.bootstrap, plainTopic, text) > 0);
      }
    },
  );
});

Deno.test("encrypted metadata_reproducer: the JSON on the output topic is encrypted (kcat finds no file name); another node decrypts it to each file's name and SHA-512", async () => {
  await withEncryptedRig(
    { nodes: "meta-", out: "enc_meta", topic: "enc_meta" },
    async ({ broker, nodesDir, outDir, topic }) => {
      for (const node of ["uploader", "processor", "reader"]) {
        const made = await provisionWithTask(nodesDir, node, PASSWORD);
        strictEqual(made.code, 0, made.stderr);
      }
      const configOf = async (node: string) => {
        const path = `${nodesDir}/${node}-run.config`;
        await Deno.writeTextFile(
          `${ROOT}${path}`,
          `[cluster]\nbootstrap.servers = ${broker.bootstrap}\n\n` +
            `[consumer]\nauto.offset.reset = earliest\n\n` +
            `[kafkacrypto]\nconfig_file = ${nodesDir}/${node}/${node}.config\n`,
        );
        return path;
      };
      const source = `${outDir}/source`;
      await writeFiles(source);
      const names = [0, 1, 2, 3, 4].map((i) => `${NAME_TOKEN}_${i}.txt`);
      const output = uniqueTopic("enc_meta_out");
      const watcher = new BackgroundTask(
        "upload_data_files_added_to_directory",
        [
          ...topicArgs(await configOf("uploader"), topic, CHUNK),
          "--settle_seconds=0.5",
          "--update_seconds=-1",
          source,
        ],
      );
      const reproducer = new BackgroundTask("process_data_files", [
        ...topicArgs(await configOf("processor"), topic),
        "--working_dir",
        `${outDir}/work`,
        "--processor",
        "scripts/processors/metadata_reproducer.ts",
        "--update_seconds",
        "-1",
        "--processor_options",
        `output_topic_name=${output}`,
      ]);
      const settings = plaintextSettings(broker.bootstrap);
      const reader = await CryptoNode.start(
        await openNode(`${ROOT}${nodesDir}/reader/reader.config`),
        createKafka(settings),
        settings,
      );
      try {
        for (const name of names) {
          await reproducer.stdout.waitFor(`Processed ${name}`);
        }
        const messages = await readWithKcat(broker.bootstrap, output);
        strictEqual(messages.length, names.length);
        strictEqual(
          await markerHits(broker.bootstrap, output, NAME_TOKEN, {
            encrypted: true,
          }),
          0,
        );
        // The reproducer is still up: it answers the reader's key requests.
        const seen = new Map<string, string>();
        for (const message of messages) {
          const opened = await reader.decrypt(
            output,
            message.value,
            "value",
            30_000,
          );
          ok(opened.plaintext, "the reader got no key");
          const json = JSON.parse(new TextDecoder().decode(opened.plaintext));
          seen.set(json.filename, json.sha512);
        }
        deepStrictEqual([...seen.keys()].sort(), names);
        for (const name of names) {
          strictEqual(
            seen.get(name),
            await sha512File(`${ROOT}${source}/${name}`),
            name,
          );
        }
      } finally {
        await reader.close();
        strictEqual((await reproducer.quit()).code, 0, reproducer.stderr.text);
        strictEqual((await watcher.quit()).code, 0, watcher.stderr.text);
      }
    },
  );
});
