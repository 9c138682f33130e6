/**
 * Wire fidelity against a real broker: every codec carries random,
 * compressible and all-zero files that kcat, Kafka's Java consumer and the
 * reconstructor all read back identical; messages carry the file's
 * modification time as a 10th field, which the rebuilt file gets; keys are
 * formed as OpenMSIStream forms them; folder uploads leave out editor and log
 * files unless told otherwise.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { decode } from "@msgpack/msgpack";
import {
  chunkKey,
  encodeChunk,
  encodeNineFields,
  type FileChunk,
  sha512,
} from "../lib/transfer/chunk.ts";
import {
  makeChunks,
  produceRaw,
  Reconstructor,
  startTestBroker,
  type TestBroker,
  topicArgs,
  uniqueTopic,
  writeRandomFile,
  writeTestConfig,
} from "./helpers/kafka.ts";
import {
  produceWithKcat,
  type RawMessage,
  readWithJavaConsumer,
  readWithKcat,
  rebuildFiles,
} from "./helpers/kafka_readers.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";

const CHUNK = 16384;

/** The test folder: path -> [size, kind, mtime in ms]. */
const FILES: Record<string, { size: number; kind: string; mtimeMs: number }> = {
  "text.txt": { size: 300_000, kind: "text", mtimeMs: 1_600_000_000_123 },
  "sub/random.bin": {
    size: 150_000,
    kind: "random",
    mtimeMs: 1_500_000_001_456,
  },
  "sub/dir/zeros.bin": {
    size: 200_000,
    kind: "zeros",
    mtimeMs: 1_400_000_002_789,
  },
};
/** Files a user would not mean to send, left out by default. */
const UNWANTED = [".DS_Store", ".text.txt.swp", "text.txt~", "upload.log"];

/** Writes the test folder with its modification times. */
async function writeSourceFolder(folder: string): Promise<void> {
  for (const [path, { size, kind, mtimeMs }] of Object.entries(FILES)) {
    const full = `${ROOT}${folder}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    if (kind === "random") await writeRandomFile(full, size);
    else if (kind === "zeros") await Deno.writeFile(full, new Uint8Array(size));
    else {
      const line = "C1 trigger 0.125 V, -3.5e-4 s; channel ok\n";
      await Deno.writeTextFile(
        full,
        line.repeat(size / line.length + 1).slice(0, size),
      );
    }
    await Deno.utime(full, new Date(), new Date(mtimeMs));
  }
  for (const name of UNWANTED) {
    await Deno.writeTextFile(`${ROOT}${folder}/${name}`, "not data\n");
  }
}

/** Checks what a reader got: the right keys, 10 fields, the files intact. */
async function checkMessages(
  reader: string,
  messages: RawMessage[],
  folder: string,
): Promise<void> {
  const files = rebuildFiles(messages);
  deepStrictEqual([...files.keys()].sort(), Object.keys(FILES).sort(), reader);
  for (const [path, bytes] of files) {
    deepStrictEqual(
      sha512(bytes),
      sha512(await Deno.readFile(`${ROOT}${folder}/${path}`)),
      `${reader}: ${path}`,
    );
  }
  for (const { key, value } of messages) {
    const fields = decode(value) as unknown[];
    strictEqual(fields.length, 10, `${reader}: ${key} has 10 fields`);
    // The time is a msgpack float64, as OpenMSIStream sends it.
    strictEqual(value[value.length - 9], 0xcb, `${reader}: float64 mtime`);
    const subdir = fields[6] as string;
    const path = subdir ? `${subdir}/${fields[0]}` : fields[0] as string;
    strictEqual(fields[9], FILES[path].mtimeMs / 1000, `${reader}: ${key}`);
    strictEqual(
      key,
      `${subdir.replaceAll("/", "_")}_${fields[0]}_chunk_${fields[4]}_of_${
        fields[5]
      }`,
    );
  }
  const keys = new Set(messages.map((m) => m.key));
  ok(keys.has("_text.txt_chunk_1_of_19"), `${reader}: top-level key`);
  ok(keys.has("sub_random.bin_chunk_10_of_10"), `${reader}: subfolder key`);
  ok(keys.has("sub_dir_zeros.bin_chunk_13_of_13"), `${reader}: nested key`);
}

Deno.test("every codec carries random, compressible and zero files that kcat, Kafka's Java consumer and the reconstructor read back identical", async (t) => {
  const broker: TestBroker = await startTestBroker();
  const dir = await makeOutTempDir("wire");
  const source = `${dir}/source`;
  await writeSourceFolder(source);
  try {
    for (const codec of ["none", "gzip", "snappy", "lz4", "zstd"]) {
      await t.step(`compression.type = ${codec}`, async () => {
        const topic = uniqueTopic(`wire_${codec}`);
        const config = await writeTestConfig(
          dir,
          broker.bootstrap,
          `compression.type = ${codec}\nbatch.size = 200000`,
        );
        const upload = await runTask("upload_data_file", [
          ...topicArgs(config, topic, CHUNK),
          source,
        ]);
        strictEqual(upload.code, 0, upload.stdout + upload.stderr);
        match(upload.stderr, /Done!/);

        await checkMessages(
          "kcat",
          await readWithKcat(broker.bootstrap, topic),
          source,
        );
        await checkMessages(
          "java",
          await readWithJavaConsumer(broker.bootstrap, topic),
          source,
        );

        const rebuilt = `${dir}/rebuilt_${codec}`;
        await Reconstructor.rebuild(
          config,
          topic,
          rebuilt,
          Object.entries(FILES).map((
            [path, { size }],
          ) => [`${rebuilt}/${path}`, size]),
        );
        for (const [path, { mtimeMs }] of Object.entries(FILES)) {
          deepStrictEqual(
            sha512(await Deno.readFile(`${ROOT}${rebuilt}/${path}`)),
            sha512(await Deno.readFile(`${ROOT}${source}/${path}`)),
            path,
          );
          const info = await Deno.stat(`${ROOT}${rebuilt}/${path}`);
          strictEqual(info.mtime?.getTime(), mtimeMs, `${path} mtime`);
        }
        for (const name of UNWANTED) {
          const there = await Deno.stat(`${ROOT}${rebuilt}/${name}`).then(
            () => true,
            () => false,
          );
          ok(!there, `${name} was not sent`);
        }
      });
    }

    await t.step(
      "batches the client library writes with every codec, zstd too, are taken by the broker and read back identical by kcat, Kafka's Java consumer and the reconstructor",
      async () => {
        for (
          const codec of ["none", "gzip", "snappy", "lz4", "zstd"] as const
        ) {
          const topic = uniqueTopic(`client_${codec}`);
          const files = Object.fromEntries(
            Object.entries(FILES).map(([path, { size }]) => [path, size]),
          );
          const chunks = [];
          for (const path of Object.keys(files)) {
            const bytes = await Deno.readFile(`${ROOT}${source}/${path}`);
            const slash = path.lastIndexOf("/");
            chunks.push(
              ...makeChunks(
                bytes,
                path.slice(slash + 1),
                CHUNK,
                slash < 0 ? "" : path.slice(0, slash),
              ).map(encodeChunk),
            );
          }
          // acks=all: the broker has checked and stored every batch.
          await produceRaw(broker.bootstrap, topic, chunks, codec);
          for (
            const [reader, messages] of [
              ["kcat", await readWithKcat(broker.bootstrap, topic)],
              ["java", await readWithJavaConsumer(broker.bootstrap, topic)],
            ] as const
          ) {
            strictEqual(messages.length, chunks.length, `${codec} ${reader}`);
            const got = rebuildFiles(messages);
            for (const path of Object.keys(files)) {
              deepStrictEqual(
                sha512(got.get(path)!),
                sha512(await Deno.readFile(`${ROOT}${source}/${path}`)),
                `${codec} ${reader}: ${path}`,
              );
            }
          }
          const config = await writeTestConfig(dir, broker.bootstrap);
          const rebuilt = `${dir}/client_${codec}`;
          await Reconstructor.rebuild(
            config,
            topic,
            rebuilt,
            Object.entries(files).map(([path, size]) => [
              `${rebuilt}/${path}`,
              size,
            ]),
          );
          for (const path of Object.keys(files)) {
            deepStrictEqual(
              sha512(await Deno.readFile(`${ROOT}${rebuilt}/${path}`)),
              sha512(await Deno.readFile(`${ROOT}${source}/${path}`)),
              `${codec} reconstructor: ${path}`,
            );
          }
        }
      },
    );

    await t.step("zstd batches from kcat are read and rebuilt", async () => {
      const topic = uniqueTopic("zstd");
      const text = new TextEncoder().encode(
        "zstd compresses this\n".repeat(4000),
      );
      await produceWithKcat(
        broker.bootstrap,
        topic,
        makeChunks(text, "zstd.txt", CHUNK).map(encodeChunk),
        "zstd",
      );
      const config = await writeTestConfig(dir, broker.bootstrap);
      const rebuilt = `${dir}/zstd`;
      await Reconstructor.rebuild(config, topic, rebuilt, [[
        `${rebuilt}/zstd.txt`,
        text.length,
      ]]);
      deepStrictEqual(await Deno.readFile(`${ROOT}${rebuilt}/zstd.txt`), text);
    });

    await t.step("--include_all sends editor and log files too", async () => {
      const topic = uniqueTopic("include_all");
      const config = await writeTestConfig(dir, broker.bootstrap);
      const upload = await runTask("upload_data_file", [
        ...topicArgs(config, topic),
        "--include_all",
        source,
      ]);
      strictEqual(upload.code, 0, upload.stderr);
      const sent = rebuildFiles(await readWithKcat(broker.bootstrap, topic));
      for (const name of UNWANTED) ok(sent.has(name), `${name} was sent`);
    });

    await t.step(
      "a 10-field message sets the rebuilt file's mtime; a 9-field one still works",
      async () => {
        const topic = uniqueTopic("fields");
        const bytes = new TextEncoder().encode("nine or ten\n".repeat(100));
        const chunk = (filename: string, mtime?: number): FileChunk => ({
          ...makeChunks(bytes, filename, bytes.length)[0],
          mtime,
        });
        const nine = encodeNineFields(chunk("nine.txt"));
        const ten = encodeChunk(chunk("ten.txt", 1_234_567_890.5));
        strictEqual((decode(nine) as unknown[]).length, 9);
        strictEqual((decode(ten) as unknown[]).length, 10);
        strictEqual(chunkKey(chunk("ten.txt")), "_ten.txt_chunk_1_of_1");
        await produceRaw(broker.bootstrap, topic, [nine, ten]);
        const config = await writeTestConfig(dir, broker.bootstrap);
        const rebuilt = `${dir}/fields`;
        const before = Date.now();
        await Reconstructor.rebuild(config, topic, rebuilt, [
          [`${rebuilt}/nine.txt`, bytes.length],
          [`${rebuilt}/ten.txt`, bytes.length],
        ]);
        const tenInfo = await Deno.stat(`${ROOT}${rebuilt}/ten.txt`);
        strictEqual(tenInfo.mtime?.getTime(), 1_234_567_890_500);
        // No time sent: the file keeps the time it was written here.
        const nineInfo = await Deno.stat(`${ROOT}${rebuilt}/nine.txt`);
        ok((nineInfo.mtime?.getTime() ?? 0) >= before - 2000);
        deepStrictEqual(
          await Deno.readFile(`${ROOT}${rebuilt}/nine.txt`),
          bytes,
        );
      },
    );
  } finally {
    await broker.stop();
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});
