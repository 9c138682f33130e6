/**
 * upload_data_file and reconstruct_data_files against a real Kafka broker:
 * files go up in chunks and come back byte-identical, junk is skipped, unsafe
 * names are refused, and a killed reconstructor finishes after a restart.
 */
import { deepStrictEqual, match, ok } from "node:assert/strict";
import { encodeChunk, sha512 } from "../lib/transfer/chunk.ts";
import {
  makeChunks,
  produceRaw,
  randomBytes,
  Reconstructor,
  sha512File,
  startTestBroker,
  type TestBroker,
  uniqueTopic,
  writeRandomFile,
  writeTestConfig,
} from "./helpers/kafka.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";
import { produceWithKcat } from "./helpers/kafka_readers.ts";

const CHUNK = 1024;

Deno.test("files travel through a real Kafka broker and come back intact", async (t) => {
  const broker: TestBroker = await startTestBroker();
  const dir = await makeOutTempDir("kafka");
  const config = await writeTestConfig(dir, broker.bootstrap);
  try {
    for (const threads of ["1", "5"]) {
      await t.step(
        `files of 0 B to 3 MB in subfolders round-trip with --n_threads ${threads}`,
        async () => {
          const topic = uniqueTopic(`roundtrip${threads}`);
          const source = `${dir}/source${threads}`;
          await Deno.mkdir(`${ROOT}${source}/day1/scope`, { recursive: true });
          const files: [string, number][] = [
            ["empty.bin", 0],
            ["one.bin", 1],
            ["day1/below.bin", CHUNK - 1],
            ["day1/exact.bin", CHUNK],
            ["day1/scope/above.bin", CHUNK + 1],
            ["day1/scope/big.bin", 3 * 1024 * 1024 + 7],
          ];
          for (const [name, size] of files) {
            await writeRandomFile(`${ROOT}${source}/${name}`, size);
          }

          const upload = await runTask("upload_data_file", [
            "--config",
            config,
            "--topic_name",
            topic,
            "--n_threads",
            threads,
            "--chunk_size",
            String(CHUNK),
            source,
          ]);
          deepStrictEqual(upload.code, 0, upload.stderr);
          assertIncludes(upload.stderr + upload.stdout, "Done!");

          const rebuilt = `${dir}/rebuilt${threads}`;
          const run = await Reconstructor.rebuild(
            config,
            topic,
            rebuilt,
            files.map(([name, size]) => [`${rebuilt}/${name}`, size]),
            [
              "--n_threads",
              threads,
            ],
          );
          for (const [name] of files) {
            deepStrictEqual(
              await sha512File(`${ROOT}${rebuilt}/${name}`),
              await sha512File(`${ROOT}${source}/${name}`),
              name,
            );
            assertIncludes(
              run.stdout,
              `File ${name} successfully reconstructed locally from stream`,
            );
          }
        },
      );
    }

    await t.step(
      "chunks out of order and twice, junk, a damaged chunk and unsafe names: good files still rebuild, nothing escapes",
      async () => {
        const topic = uniqueTopic("crafted");
        const good = new TextEncoder().encode("0123456789".repeat(300));
        const chunks = makeChunks(good, "good.txt", 256, "runs/a");
        const shuffled = [...chunks].reverse();
        // Its data changed, its hash as sent: written first, found at the end.
        const damaged = {
          ...chunks[0],
          data: chunks[0].data.map((byte, i) => i === 9 ? byte ^ 1 : byte),
        };
        const wrongFileHash = makeChunks(
          new Uint8Array([7, 7, 7]),
          "tampered.bin",
          256,
        )
          .map((c) => ({ ...c, fileHash: sha512(new Uint8Array([9])) }));
        const unsafe = [
          { subdir: "../escape", filename: "x.txt" },
          { subdir: "/tmp", filename: "abs.txt" },
          { subdir: "", filename: "..\\win.txt" },
          { subdir: "C:", filename: "drive.txt" },
          { subdir: "", filename: "nul\0.txt" },
          { subdir: "ok/../..", filename: "up.txt" },
          { subdir: "", filename: ".Reconstruct_Data_Files" },
        ].map(({ subdir, filename }) =>
          encodeChunk({
            ...makeChunks(good.subarray(0, 5), filename, 256)[0],
            subdir,
          })
        );
        const junk = [
          new Uint8Array([1, 2, 3]),
          new TextEncoder().encode("hello"),
          encodeChunk(chunks[0]).subarray(0, 40),
        ];
        await produceRaw(broker.bootstrap, topic, [
          ...junk,
          ...unsafe,
          encodeChunk(damaged),
          ...shuffled.map(encodeChunk),
          ...chunks.slice(0, 3).map(encodeChunk),
          ...wrongFileHash.map(encodeChunk),
          // A file named like a folder that a later file needs.
          ...makeChunks(good.subarray(0, 9), "run1", 256).map(encodeChunk),
          ...makeChunks(good.subarray(0, 7), "x.txt", 256, "run1").map(
            encodeChunk,
          ),
        ]);

        const rebuilt = `${dir}/crafted`;
        const reconstructor = Reconstructor.start(config, topic, rebuilt, [
          "--n_threads",
          "1",
        ]);
        await reconstructor.waitForFiles([[
          `${rebuilt}/runs/a/good.txt`,
          good.length,
        ]]);
        await reconstructor.stdout.waitFor(
          "File runs/a/good.txt does not match its SHA-512: chunk 1 does not match its own; waiting for another copy of it",
        );
        await reconstructor.stdout.waitFor(
          "tampered.bin not moved into place: it does not match its SHA-512",
        );
        await reconstructor.stdout.waitFor(
          "run1/x.txt not moved into place: it cannot be moved into place",
        );
        const run = await reconstructor.quit();
        deepStrictEqual(run.code, 0, run.stderr);
        deepStrictEqual(
          await Deno.readFile(`${ROOT}${rebuilt}/runs/a/good.txt`),
          good,
        );
        // The NUL name is refused earlier, as a name with a control character.
        deepStrictEqual(
          (run.stdout.match(/SECURITY: /g) ?? []).length,
          unsafe.length - 1,
          run.stdout,
        );
        deepStrictEqual(
          (run.stdout.match(/is not a valid file chunk/g) ?? []).length,
          junk.length + 1,
          run.stdout,
        );
        await assertRejectsNotFound(`${ROOT}${rebuilt}/tampered.bin`);
        const entries = [];
        for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
          entries.push(entry.name);
        }
        ok(
          !entries.includes("escape") && !entries.includes("x.txt"),
          entries.join(","),
        );
        await assertRejectsNotFound("/tmp/abs.txt");
      },
    );

    await t.step(
      "a reconstructor killed with SIGKILL finishes the file after a restart with the same group",
      async () => {
        const topic = uniqueTopic("kill");
        const bytes = new Uint8Array(64 * 1024);
        crypto.getRandomValues(bytes);
        const chunks = makeChunks(bytes, "half.bin", 1024);
        const group = `test-group-${crypto.randomUUID()}`;
        const rebuilt = `${dir}/killed`;
        await produceRaw(
          broker.bootstrap,
          topic,
          chunks.slice(0, 40).map(encodeChunk),
        );

        const first = Reconstructor.start(config, topic, rebuilt, [
          "--consumer_group_ID",
          group,
          "--n_threads",
          "1",
        ]);
        // `check` shows the file in progress once its first 40 chunks are on disk.
        const deadline = Date.now() + 60_000;
        while (!first.stdout.text.includes("half.bin (40/64 chunks)")) {
          if (first.exited || Date.now() > deadline) {
            throw new Error(
              `no progress seen:\n${first.stdout.text}\n${first.stderr.text}`,
            );
          }
          await first.type("check");
          await new Promise((r) => setTimeout(r, 300));
        }
        await first.kill();
        await assertRejectsNotFound(`${ROOT}${rebuilt}/half.bin`);

        await produceRaw(
          broker.bootstrap,
          topic,
          chunks.slice(40).map(encodeChunk),
        );
        const run = await Reconstructor.rebuild(config, topic, rebuilt, [[
          `${rebuilt}/half.bin`,
          bytes.length,
        ]], [
          "--consumer_group_ID",
          group,
          "--n_threads",
          "1",
        ]);
        deepStrictEqual(
          await Deno.readFile(`${ROOT}${rebuilt}/half.bin`),
          bytes,
        );
        // Commits never pass an unfinished file (its next owner may be
        // another member without the partial copy), so the restarted run
        // reads the file again from its first chunk: these hand-made chunks
        // carry no one-partition header, so in a named group they went
        // through the repartition topic (all 64 read again there). If the
        // source commit had passed the 40 forwarded ones before the kill,
        // 24 are read there; if not, all 64 are read and forwarded again,
        // and the repartition topic holds 40 + 64 (forwarding is at least
        // once; the file is still rebuilt once, from its first chunk).
        const read = Number(
          run.stdout.match(/Stopped\. (\d+) messages read/)?.[1],
        );
        ok(
          read === 24 + 64 || read === 64 + 40 + 64,
          `read ${read} messages`,
        );
      },
    );

    await t.step(
      "killed with SIGKILL amid 2,000 small files (moved in after one commit per batch), a restart leaves every file once, identical, nothing half-done",
      async () => {
        const topic = uniqueTopic("killsmall");
        const source = `${dir}/small_source`;
        await Deno.mkdir(`${ROOT}${source}`, { recursive: true });
        const names = Array.from(
          { length: 2000 },
          (_, i) => `s${String(i).padStart(4, "0")}.bin`,
        );
        for (const [i, name] of names.entries()) {
          await Deno.writeFile(
            `${ROOT}${source}/${name}`,
            randomBytes(2048, i + 1),
          );
        }
        const upload = await runTask("upload_data_file", [
          ...["--config", config, "--topic_name", topic, source],
        ]);
        deepStrictEqual(upload.code, 0, upload.stderr);
        const group = [
          "--consumer_group_ID",
          `test-group-${crypto.randomUUID()}`,
        ];
        const rebuilt = `${dir}/small_killed`;
        const first = Reconstructor.start(config, topic, rebuilt, group);
        // Killed once a few hundred files are in place, amid the rest.
        const deadline = Date.now() + 60_000;
        while ((await placedFiles(rebuilt)).length < 300) {
          if (first.exited || Date.now() > deadline) {
            throw new Error(`too few files:\n${first.stderr.text}`);
          }
          await new Promise((r) => setTimeout(r, 10));
        }
        await first.kill();
        const atKill = (await placedFiles(rebuilt)).length;
        ok(
          atKill < names.length,
          `all ${atKill} files were in before the kill`,
        );

        await Reconstructor.rebuild(
          config,
          topic,
          rebuilt,
          names.map((name) => [`${rebuilt}/${name}`, 2048]),
          group,
        );
        deepStrictEqual(await placedFiles(rebuilt), names);
        for (const name of names) {
          deepStrictEqual(
            await sha512File(`${ROOT}${rebuilt}/${name}`),
            await sha512File(`${ROOT}${source}/${name}`),
            name,
          );
        }
        // No partial copy or rejected file is left behind.
        const state = `${ROOT}${rebuilt}/.reconstruct_data_files`;
        deepStrictEqual(
          await Array.fromAsync(Deno.readDir(`${state}/partial`)),
          [],
        );
        deepStrictEqual(
          await Array.fromAsync(Deno.readDir(`${state}/rejected`)),
          [],
        );
      },
    );

    await t.step(
      "a rebuilt file that was deleted comes back when the topic is read again; the others are left alone",
      async () => {
        const topic = uniqueTopic("reread");
        const keep = new TextEncoder().encode("keep me\n".repeat(300));
        const lost = new TextEncoder().encode("lost me\n".repeat(300));
        await produceRaw(broker.bootstrap, topic, [
          ...makeChunks(keep, "keep.txt", 1024).map(encodeChunk),
          ...makeChunks(lost, "lost.txt", 1024).map(encodeChunk),
        ]);
        const rebuilt = `${dir}/reread`;
        const first = Reconstructor.start(config, topic, rebuilt);
        await first.waitForFiles([
          [`${rebuilt}/keep.txt`, keep.length],
          [`${rebuilt}/lost.txt`, lost.length],
        ]);
        deepStrictEqual((await first.quit()).code, 0);

        await Deno.remove(`${ROOT}${rebuilt}/lost.txt`);
        const run = await Reconstructor.rebuild(config, topic, rebuilt, [[
          `${rebuilt}/lost.txt`,
          lost.length,
        ]]);
        deepStrictEqual(
          await Deno.readFile(`${ROOT}${rebuilt}/lost.txt`),
          lost,
        );
        assertIncludes(run.stdout, "File lost.txt successfully reconstructed");
        ok(!run.stdout.includes("File keep.txt successfully"), run.stdout);
      },
    );
    await t.step(
      "lz4-, snappy- and gzip-compressed batches are read",
      async () => {
        const topic = uniqueTopic("compressed");
        const files = ["lz4", "snappy", "gzip"].map((codec) => ({
          codec,
          bytes: new TextEncoder().encode(`${codec} `.repeat(2000)),
        }));
        const lz4Config = await writeTestConfig(
          dir,
          broker.bootstrap,
          "compression.type = lz4",
        );
        const lz4Source = `${dir}/lz4.txt`;
        await Deno.writeFile(`${ROOT}${lz4Source}`, files[0].bytes);
        const upload = await runTask("upload_data_file", [
          "--config",
          lz4Config,
          "--topic_name",
          topic,
          lz4Source,
        ]);
        deepStrictEqual(upload.code, 0, upload.stderr);
        await produceRaw(
          broker.bootstrap,
          topic,
          makeChunks(files[1].bytes, "snappy.txt", 1024).map(encodeChunk),
          "snappy",
        );
        await produceRaw(
          broker.bootstrap,
          topic,
          makeChunks(files[2].bytes, "gzip.txt", 1024).map(encodeChunk),
          "gzip",
        );

        const rebuilt = `${dir}/compressed`;
        await Reconstructor.rebuild(
          config,
          topic,
          rebuilt,
          files.map((
            { codec, bytes },
          ) => [`${rebuilt}/${codec}.txt`, bytes.length]),
        );
        for (const { codec, bytes } of files) {
          deepStrictEqual(
            await Deno.readFile(`${ROOT}${rebuilt}/${codec}.txt`),
            bytes,
          );
        }
      },
    );

    await t.step(
      "chunks produced by kcat with lz4 compression are rebuilt",
      async () => {
        const topic = uniqueTopic("kcat");
        const bytes = new TextEncoder().encode("from kcat\n".repeat(500));
        await produceWithKcat(
          broker.bootstrap,
          topic,
          makeChunks(bytes, "kcat.txt", 1024).map(encodeChunk),
          "lz4",
        );
        const rebuilt = `${dir}/kcat`;
        await Reconstructor.rebuild(config, topic, rebuilt, [[
          `${rebuilt}/kcat.txt`,
          bytes.length,
        ]]);
        deepStrictEqual(
          await Deno.readFile(`${ROOT}${rebuilt}/kcat.txt`),
          bytes,
        );
      },
    );
  } finally {
    await broker.stop();
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

Deno.test("uploading to a broker that is not there is a one-line error and exit code 1", async () => {
  const dir = await makeOutTempDir("nobroker");
  try {
    const config = await writeTestConfig(dir, "127.0.0.1:1");
    await Deno.writeTextFile(`${ROOT}${dir}/a.txt`, "hello");
    const run = await runTask("upload_data_file", [
      "--config",
      config,
      `${dir}/a.txt`,
    ]);
    deepStrictEqual(run.code, 1);
    match(
      run.stderr,
      /^upload_data_file: error: cannot reach Kafka at 127\.0\.0\.1:1 .*\n$/m,
    );
    ok(!run.stderr.includes("    at "), "no stack trace");
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

Deno.test("upload_data_file refuses a chunk size that is not a power of two", async () => {
  const run = await runTask("upload_data_file", [
    "--chunk_size",
    "1000",
    "deno.json",
  ]);
  deepStrictEqual(run.code, 2);
  assertIncludes(
    run.stderr,
    "--chunk_size must be a power of two, not 1000",
  );
});

async function assertRejectsNotFound(path: string): Promise<void> {
  const exists = await Deno.stat(path).then(() => true, () => false);
  ok(!exists, `${path} should not exist`);
}

function assertIncludes(text: string, part: string): void {
  ok(text.includes(part), `expected ${JSON.stringify(part)} in:\n${text}`);
}

/** The names of the files in place in a working folder, sorted (state folder left out). */
async function placedFiles(workingDir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${ROOT}${workingDir}`)) {
      if (entry.isFile) names.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}
