/**
 * reconstruct_data_files on a small disk (issue 17, item 1): a real 8 MiB
 * tmpfs mounted for the test (the tests run as root; a failed mount fails the
 * test). A file the free space cannot hold is refused before any byte of it
 * is written, with one warning for the whole file; a disk that fills up in
 * the middle of a file stops the run in one line, and a restart with the
 * same consumer group, once space is freed, finishes the file byte for byte.
 */
import { match, ok, strictEqual } from "node:assert/strict";
import { encodeChunk, sha512, toHex } from "../lib/transfer/chunk.ts";
import { WHOLE_FILE_HEADERS } from "../lib/transfer/repartition.ts";
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

/** The size of the test's disk. */
const DISK_SIZE = "8m";
/** A run still going after this long hangs: it is killed and fails. */
const GUARD_MS = 90_000;

/** Runs a program to its end; fails the test unless it exits 0. */
async function run(program: string, args: string[]): Promise<void> {
  const output = await new Deno.Command(program, { args, stderr: "piped" })
    .output();
  strictEqual(
    output.code,
    0,
    `${program} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`,
  );
}

/** Mounts a fresh tmpfs of DISK_SIZE at `dir` (relative to the root); returns its unmount. */
async function mountSmallDisk(dir: string): Promise<() => Promise<void>> {
  await Deno.mkdir(`${ROOT}${dir}`, { recursive: true });
  await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${DISK_SIZE}`,
    "tmpfs",
    `${ROOT}${dir}`,
  ]);
  // Lazy: a process the test had to kill may still hold it for a moment.
  return () => run("umount", ["--lazy", `${ROOT}${dir}`]);
}

/** Fills the disk of `path` with a file until only `leftBytes` are free. */
async function fillDisk(path: string, leftBytes: number): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true });
  const block = new Uint8Array(4096);
  try {
    for (;;) await file.write(block);
  } catch (error) {
    match(String(error), /os error 28/, "the disk is full");
  } finally {
    file.close();
  }
  if (leftBytes > 0) {
    const { size } = await Deno.stat(path);
    await Deno.truncate(path, size - leftBytes);
  }
}

/** Types `check` until the reconstructor says it has read `count` messages. */
async function waitUntilRead(
  reconstructor: Reconstructor,
  count: number,
): Promise<void> {
  const deadline = Date.now() + GUARD_MS;
  while (!reconstructor.stdout.text.includes(`${count} messages read`)) {
    ok(Date.now() < deadline, `never read ${count} messages`);
    ok(!reconstructor.exited, `it ended:\n${reconstructor.stdout.text}`);
    await reconstructor.type("check");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Files in a folder of the working folder's state, e.g. "partial". */
async function stateFiles(rebuilt: string, folder: string): Promise<string[]> {
  const names: string[] = [];
  const path = `${ROOT}${rebuilt}/.reconstruct_data_files/${folder}`;
  for await (const entry of Deno.readDir(path)) names.push(entry.name);
  return names;
}

/** The tests' broker, started by the test below. */
let broker: TestBroker;

/**
 * Rebuilds a 2 MiB file whose first chunk arrives on a free disk and the
 * rest once the disk is full but for `leftBytes`: expects one line and exit
 * 1, then a restart of the same group on the freed disk to finish it.
 */
async function fillsUpMidFile(
  config: string,
  dir: string,
  chunkSize: number,
  leftBytes: number,
): Promise<void> {
  const disk = `${dir}/disk_${chunkSize}`;
  const unmount = await mountSmallDisk(disk);
  try {
    const topic = uniqueTopic("disk_full");
    const group = `disk-full-${crypto.randomUUID().slice(0, 8)}`;
    const bytes = randomBytes(2 * 1024 * 1024, 7);
    const chunks = makeChunks(bytes, "grow.bin", chunkSize).map(encodeChunk);
    const rebuilt = `${disk}/rebuilt`;
    const filler = `${ROOT}${disk}/filler`;

    // Its first chunk is on disk...
    await produceRaw(
      broker.bootstrap,
      topic,
      chunks.slice(0, 1),
      "none",
      undefined,
      WHOLE_FILE_HEADERS,
    );
    const first = Reconstructor.start(config, topic, rebuilt, [
      "--consumer_group_ID",
      group,
    ]);
    await waitUntilRead(first, 1);
    // ...then something else takes the space, and the rest arrives.
    await fillDisk(filler, leftBytes);
    await produceRaw(
      broker.bootstrap,
      topic,
      chunks.slice(1),
      "none",
      undefined,
      WHOLE_FILE_HEADERS,
    );
    const guard = setTimeout(() => first.kill(), GUARD_MS);
    const { code } = await first.child.status;
    clearTimeout(guard);
    const stderr = (await first.stderr.all()).trim();
    strictEqual(code, 1, `exit code; stderr: ${stderr}`);
    strictEqual(stderr.split("\n").length, 1, `one line:\n${stderr}`);
    ok(!/Uncaught|^\s+at /m.test(stderr), "no stack trace");
    match(
      stderr,
      new RegExp(
        `^reconstruct_data_files: error: stopped by an error: the disk of .*/disk_${chunkSize}/rebuilt is full \\((No space left on device \\(os error 28\\)|database or disk is full)\\); the chunks written so far are kept; to go on, start again with --consumer_group_ID ${group}$`,
      ),
    );

    // Space freed, the same group goes on and the file comes out whole.
    await Deno.remove(filler);
    await Reconstructor.rebuild(config, topic, rebuilt, [[
      `${rebuilt}/grow.bin`,
      bytes.length,
    ]], ["--consumer_group_ID", group]);
    strictEqual(
      await sha512File(`${ROOT}${rebuilt}/grow.bin`),
      toHex(sha512(bytes)),
    );
  } finally {
    await unmount();
  }
}

Deno.test({
  name: "reconstruct_data_files on a small disk",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    broker = await startTestBroker();
    const dir = await makeOutTempDir("disk_full");
    const config = await writeTestConfig(dir, broker.bootstrap);
    try {
      await t.step(
        "a 20 MB file for a 8 MiB disk is refused with one warning, not one per chunk; a 2 MB file is rebuilt",
        async () => {
          const unmount = await mountSmallDisk(`${dir}/disk1`);
          try {
            const topic = uniqueTopic("disk_refuse");
            const big = `${dir}/src/big.bin`;
            const small = `${dir}/src/small.bin`;
            await Deno.mkdir(`${ROOT}${dir}/src`, { recursive: true });
            await writeRandomFile(`${ROOT}${big}`, 20_000_000);
            await writeRandomFile(`${ROOT}${small}`, 2_000_000);
            const sent = await runTask("upload_data_file", [
              "--config",
              config,
              "--topic_name",
              topic,
              big,
              small,
            ]);
            strictEqual(sent.code, 0, sent.stderr);

            const rebuilt = `${dir}/disk1/rebuilt`;
            const reconstructor = Reconstructor.start(config, topic, rebuilt);
            await reconstructor.waitForFiles([[
              `${rebuilt}/small.bin`,
              2_000_000,
            ]]);
            // 1221 chunks of 16 KiB for the big file, 123 for the small one.
            await waitUntilRead(reconstructor, 1221 + 123);
            const done = await reconstructor.quit();
            strictEqual(done.code, 0, done.stderr);

            const warnings = done.stdout.split("\n").filter((line) =>
              line.includes("big.bin")
            );
            strictEqual(
              warnings.length,
              1,
              `one line for big.bin:\n${done.stdout}`,
            );
            match(
              warnings[0],
              /WARNING: .*big\.bin needs at least \d+ bytes, more than the \d+ bytes free on disk.*: the whole file is refused/,
            );
            match(done.stdout, /1344 messages read, 1221 skipped/);
            strictEqual(
              await sha512File(`${ROOT}${rebuilt}/small.bin`),
              await sha512File(`${ROOT}${small}`),
            );
            strictEqual(
              await Deno.stat(`${ROOT}${rebuilt}/big.bin`).catch(() =>
                "absent"
              ),
              "absent",
            );
            strictEqual(
              (await stateFiles(rebuilt, "partial")).length,
              0,
              "no partial file",
            );
          } finally {
            await unmount();
          }
        },
      );

      // Full at once (512 KiB chunks), or after 16 more chunks of 16 KiB,
      // whose records are not yet saved when the disk refuses the next one.
      for (const [chunkSize, leftBytes] of [[524288, 0], [16384, 262144]]) {
        await t.step(
          `a disk that fills up mid-file (${chunkSize} B chunks, ${leftBytes} B left) stops it in one line; freed, the same group finishes the file byte for byte`,
          () => fillsUpMidFile(config, dir, chunkSize, leftBytes),
        );
      }
    } finally {
      await broker.stop();
    }
  },
});
