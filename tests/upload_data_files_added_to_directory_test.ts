/**
 * upload_data_files_added_to_directory against a real Kafka broker and a real
 * folder: what lands in the folder is rebuilt byte-identical by
 * reconstruct_data_files, once, complete, and after a kill -9 too.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { recordFileFor, UploadRecord } from "../lib/transfer/upload_record.ts";
import { BackgroundTask } from "./helpers/background_task.ts";
import {
  countMessages,
  Reconstructor,
  sha512File,
  startTestBroker,
  type TestBroker,
  topicArgs,
  uniqueTopic,
  writeRandomFile,
  writeTestConfig,
} from "./helpers/kafka.ts";
import {
  makeOutTempDir,
  ROOT,
  runTask,
  runWithoutOverride,
} from "./helpers/run_task.ts";

const TASK = "upload_data_files_added_to_directory";
/** Small chunks, so that a few KB already make several messages. */
const CHUNK = 1024;
/** Where the tool keeps its records (see the script's RECORD_FOLDER). */
const RECORD_FOLDER = `${ROOT}out/.upload_records`;
/** The user id of `nobody`, the owner of another user's files here. */
const NOBODY = 65534;

/** How many chunk messages a file of `size` bytes makes. */
function chunksOf(size: number): number {
  return Math.max(1, Math.ceil(size / CHUNK));
}

/** Starts the watcher on `folder` and waits until it watches. */
async function startWatcher(
  config: string,
  topic: string,
  folder: string,
  extra: string[] = [],
): Promise<BackgroundTask> {
  const watcher = new BackgroundTask(TASK, [
    ...topicArgs(config, topic, CHUNK),
    "--settle_seconds",
    "1",
    "--update_seconds",
    "-1",
    ...extra,
    folder,
  ]);
  await watcher.stdout.waitFor("Watching");
  return watcher;
}

/** Types `check` until its answer matches `pattern`; returns the match. */
async function checkUntil(
  task: BackgroundTask,
  pattern: RegExp,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + 60_000;
  while (true) {
    const match = task.stdout.text.match(pattern);
    if (match) return match;
    if (task.exited || Date.now() > deadline) {
      throw new Error(`never saw ${pattern} in:\n${task.stdout.text}`);
    }
    await task.type("check");
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Rebuilds `topic` into `rebuilt` and checks each file against `source`. */
async function assertRebuilt(
  config: string,
  topic: string,
  source: string,
  rebuilt: string,
  names: string[],
): Promise<void> {
  const sizes: [string, number][] = [];
  for (const name of names) {
    sizes.push([
      `${rebuilt}/${name}`,
      (await Deno.stat(`${ROOT}${source}/${name}`)).size,
    ]);
  }
  await Reconstructor.rebuild(config, topic, rebuilt, sizes);
  for (const name of names) {
    deepStrictEqual(
      await sha512File(`${ROOT}${rebuilt}/${name}`),
      await sha512File(`${ROOT}${source}/${name}`),
      name,
    );
  }
}

/** Writes `bytes` to `path` in `pieces`, pausing `pauseMs` between them. */
async function writeSlowly(
  path: string,
  bytes: Uint8Array,
  pieces: number,
  pauseMs: number,
): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true });
  const size = Math.ceil(bytes.length / pieces);
  for (let at = 0; at < bytes.length; at += size) {
    await file.write(bytes.subarray(at, at + size));
    await new Promise((r) => setTimeout(r, pauseMs));
  }
}

/** How often `part` occurs in `text`. */
function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

/** Fails unless the task ended with exit code 0; returns its stdout. */
async function quitCleanly(task: BackgroundTask): Promise<string> {
  const run = await task.quit();
  deepStrictEqual(run.code, 0, `${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

Deno.test("upload_data_files_added_to_directory uploads what lands in a folder", async (t) => {
  const broker: TestBroker = await startTestBroker();
  const dir = await makeOutTempDir("watch");
  const config = await writeTestConfig(dir, broker.bootstrap);
  const watched: string[] = [];
  /** A fresh topic, and a fresh folder to watch whose record is removed at the end. */
  const newTopicAndFolder = async (name: string) => {
    const folder = `${dir}/${name}`;
    await Deno.mkdir(`${ROOT}${folder}`, { recursive: true });
    watched.push(await recordFileFor(`${ROOT}${folder}`, RECORD_FOLDER));
    return { topic: uniqueTopic(name), folder };
  };
  /** Fails unless `topic` holds the chunks of files of `sizes` bytes, once each. */
  const assertChunksSent = async (topic: string, ...sizes: number[]) => {
    const expected = sizes.reduce((n, size) => n + chunksOf(size), 0);
    deepStrictEqual(await countMessages(broker.bootstrap, topic), expected);
  };
  try {
    await t.step(
      "files already there and files added later, also in new subfolders, are rebuilt byte-identical; hidden and .log files are not sent",
      async () => {
        const { topic, folder } = await newTopicAndFolder("source");
        const existing: [string, number][] = [
          ["old.bin", 3000],
          ["sub/old2.bin", CHUNK + 1],
          ["empty.bin", 0],
        ];
        await Deno.mkdir(`${ROOT}${folder}/sub`);
        await Deno.mkdir(`${ROOT}${folder}/.cache`);
        for (const [name, size] of existing) {
          await writeRandomFile(`${ROOT}${folder}/${name}`, size);
        }
        for (const skipped of [".hidden.bin", "notes.log", ".cache/x.bin"]) {
          await Deno.writeTextFile(`${ROOT}${folder}/${skipped}`, "not sent");
        }

        const watcher = await startWatcher(config, topic, folder);
        const added: [string, number][] = [
          ["new.bin", 5000],
          ["day2/scope/fresh.bin", 2 * CHUNK + 7],
        ];
        await Deno.mkdir(`${ROOT}${folder}/day2/scope`, { recursive: true });
        for (const [name, size] of added) {
          await writeRandomFile(`${ROOT}${folder}/${name}`, size, size + 1);
        }
        const files = [...existing, ...added];
        for (const [name] of files) {
          await watcher.stdout.waitFor(`Uploaded ${name} (`);
        }
        await checkUntil(watcher, /0 waiting .*, 0 in progress, 5 done/);
        const stdout = await quitCleanly(watcher);
        for (const [name] of files) {
          ok(stdout.includes(`  ${name} (started `), `${name} in the summary`);
        }
        ok(!/hidden|notes\.log|x\.bin/.test(stdout), stdout);

        await assertChunksSent(topic, ...files.map(([, size]) => size));
        await assertRebuilt(
          config,
          topic,
          folder,
          `${dir}/rebuilt`,
          files.map(([name]) => name),
        );
      },
    );

    await t.step(
      "a file written in pieces over several seconds is uploaded once, complete; one deleted before it settles is only a warning",
      async () => {
        const { topic, folder } = await newTopicAndFolder("slow");
        const watcher = await startWatcher(config, topic, folder, [
          "--settle_seconds",
          "2",
        ]);
        // Eight pieces 0.4 s apart: 3.2 s of writing, never 2 s of quiet.
        const bytes = new Uint8Array(8 * CHUNK);
        crypto.getRandomValues(bytes);
        await writeSlowly(`${ROOT}${folder}/slow.bin`, bytes, 8, 400);
        await watcher.stdout.waitFor("Uploaded slow.bin (");
        const { text } = watcher.stdout;
        deepStrictEqual(occurrences(text, "uploading slow.bin"), 1, text);

        await Deno.writeTextFile(`${ROOT}${folder}/gone.bin`, "short-lived");
        await checkUntil(watcher, /1 still being written/);
        await Deno.remove(`${ROOT}${folder}/gone.bin`);
        await watcher.stdout.waitFor(
          "WARNING: gone.bin disappeared before it was complete",
        );
        const stdout = await quitCleanly(watcher);

        deepStrictEqual(occurrences(stdout, "Uploaded slow.bin ("), 1, stdout);
        await assertChunksSent(topic, bytes.length);
        await assertRebuilt(config, topic, folder, `${dir}/rebuilt-slow`, [
          "slow.bin",
        ]);
      },
    );

    await t.step(
      "with --new_files_only the files already there stay, new ones go",
      async () => {
        const { topic, folder } = await newTopicAndFolder("newonly");
        await writeRandomFile(`${ROOT}${folder}/before.bin`, 4000);
        const watcher = await startWatcher(config, topic, folder, [
          "--new_files_only",
        ]);
        await writeRandomFile(`${ROOT}${folder}/after.bin`, 3000);
        await watcher.stdout.waitFor("Uploaded after.bin (");
        const stdout = await quitCleanly(watcher);
        ok(!stdout.includes("before.bin"), stdout);
        await assertChunksSent(topic, 3000);
      },
    );

    await t.step(
      "a modified file is uploaded again and the reconstructor ends with the new content",
      async () => {
        const { topic, folder } = await newTopicAndFolder("modified");
        const rebuilt = `${dir}/rebuilt-modified`;
        const watcher = await startWatcher(config, topic, folder);
        const reconstructor = new Reconstructor([
          "--config",
          config,
          "--topic_name",
          topic,
          rebuilt,
        ]);
        const path = `${ROOT}${folder}/data.bin`;
        await writeRandomFile(path, 3000, 1);
        await reconstructor.waitForFiles([[`${rebuilt}/data.bin`, 3000]]);
        await writeRandomFile(path, 5000, 2);
        await reconstructor.waitForFiles([[`${rebuilt}/data.bin`, 5000]]);

        const stdout = await quitCleanly(watcher);
        deepStrictEqual(occurrences(stdout, "Uploaded data.bin ("), 2, stdout);
        deepStrictEqual((await reconstructor.quit()).code, 0);
        deepStrictEqual(
          await sha512File(`${ROOT}${rebuilt}/data.bin`),
          await sha512File(path),
        );
      },
    );

    await t.step(
      "killed with SIGKILL mid-upload and restarted: every file is rebuilt, finished ones are not sent again",
      async () => {
        const { topic, folder } = await newTopicAndFolder("killed");
        await writeRandomFile(`${ROOT}${folder}/a.bin`, 2000);
        await writeRandomFile(`${ROOT}${folder}/b.bin`, 3000);
        const first = await startWatcher(config, topic, folder, [
          "--n_threads",
          "1",
        ]);
        await first.stdout.waitFor("Uploaded a.bin (");
        await first.stdout.waitFor("Uploaded b.bin (");
        const bigSize = 64 * 1024 * 1024; // Big enough to be killed mid-upload.
        const total = chunksOf(bigSize);
        await writeRandomFile(`${ROOT}${folder}/big.bin`, bigSize);
        await checkUntil(
          first,
          new RegExp(`in progress: big\\.bin \\([1-9]\\d{2,}/${total} chunks`),
        );
        await first.kill();
        ok(!first.stdout.text.includes("Uploaded big.bin"), "killed too late");

        const second = await startWatcher(config, topic, folder);
        await second.stdout.waitFor("Uploaded big.bin (");
        const stdout = await quitCleanly(second);
        const resumed = stdout.match(
          new RegExp(`resuming big\\.bin: (\\d+) of ${total} chunks`),
        );
        ok(resumed && Number(resumed[1]) > 0, stdout);
        for (const name of ["a.bin", "b.bin"]) {
          ok(stdout.includes(`${name} was uploaded before; skipped`), stdout);
          ok(!stdout.includes(`uploading ${name}`), stdout);
        }
        // Only the chunks in flight at the kill may have gone twice.
        const sent = await countMessages(broker.bootstrap, topic);
        const once = chunksOf(2000) + chunksOf(3000) + total;
        ok(sent >= once && sent < once + total / 2, `${sent} messages`);
        await assertRebuilt(config, topic, folder, `${dir}/rebuilt-killed`, [
          "a.bin",
          "b.bin",
          "big.bin",
        ]);
      },
    );

    await t.step(
      "quit while a file is being uploaded finishes that file and exits 0",
      async () => {
        const { topic, folder } = await newTopicAndFolder("quit");
        const watcher = await startWatcher(config, topic, folder, [
          "--n_threads",
          "1",
        ]);
        const size = 16 * 1024 * 1024;
        await writeRandomFile(`${ROOT}${folder}/late.bin`, size);
        await checkUntil(watcher, /in progress: late\.bin \(\d+\/\d+ chunks/);
        const stdout = await quitCleanly(watcher);
        ok(stdout.includes("Stopping: finishing 1 file(s) in progress"));
        ok(stdout.includes("  late.bin (started "), stdout);
        await assertChunksSent(topic, size);
      },
    );

    await t.step(
      "with --use_polling files added to a new subfolder are uploaded",
      async () => {
        const { topic, folder } = await newTopicAndFolder("polling");
        const watcher = await startWatcher(config, topic, folder, [
          "--use_polling",
        ]);
        await Deno.mkdir(`${ROOT}${folder}/p`);
        await writeRandomFile(`${ROOT}${folder}/p/polled.bin`, 2500);
        await watcher.stdout.waitFor("Uploaded p/polled.bin (");
        await quitCleanly(watcher);
        await assertChunksSent(topic, 2500);
      },
    );
  } finally {
    await broker.stop();
    for (const record of watched) {
      for (const suffix of ["", "-wal", "-shm"]) {
        await Deno.remove(record + suffix).catch(() => {});
      }
    }
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

Deno.test("upload_data_files_added_to_directory refuses a folder that does not exist, in one line", async () => {
  const run = await runTask(TASK, ["out/.tmp/no-such-folder"]);
  deepStrictEqual(run.code, 1);
  deepStrictEqual(
    run.stderr,
    "upload_data_files_added_to_directory: error: out/.tmp/no-such-folder not found\n",
  );
});

Deno.test("upload_data_files_added_to_directory refuses a record made by another user, in one line naming it", async () => {
  const dir = await makeOutTempDir("foreign-record");
  const folder = `${dir}/watched`;
  await Deno.mkdir(`${ROOT}${folder}`);
  await Deno.writeTextFile(`${ROOT}${folder}/a.txt`, "waiting");
  const recordPath = await recordFileFor(`${ROOT}${folder}`, RECORD_FOLDER);
  const files = ["", "-wal", "-shm"].map((suffix) => recordPath + suffix);
  try {
    // Another user's watcher noticed a.txt and stopped: its record is theirs.
    const theirs = await UploadRecord.open(recordPath);
    theirs.noteWaiting({ relativePath: "a.txt", size: 7, mtimeMs: 1 });
    theirs.close();
    for (const file of files) {
      await Deno.chown(file, NOBODY, NOBODY).catch(() => {});
    }
    // Root without the capabilities that ignore file owners: any other user.
    const output = await runWithoutOverride(TASK, [
      ...topicArgs(
        await writeTestConfig(dir, "127.0.0.1:9"),
        uniqueTopic("foreign"),
      ),
      folder,
    ]);
    const stderr = output.stderr;
    deepStrictEqual(output.code, 1, stderr);
    deepStrictEqual(
      stderr,
      `${TASK}: error: cannot write the state database ${
        recordPath.slice(ROOT.length)
      } (attempt to write a readonly database): you need write permission on it and its folder; made by another user? run as that user or change its owner\n`,
    );
    // Nothing of theirs was lost.
    const record = await UploadRecord.open(recordPath);
    ok(record.hasUnfinished("a.txt"));
    record.close();
  } finally {
    for (const file of files) await Deno.remove(file).catch(() => {});
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});
