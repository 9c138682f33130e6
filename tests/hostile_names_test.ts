/**
 * Hostile file names in chunk messages, read by reconstruct_data_files from a
 * real broker: names of a megabyte, names that reverse or split a line. Every
 * printed name is short and escaped, no created name holds such a character,
 * a file kept aside really is kept, and the state database stays small.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { encodeChunk, type FileChunk, sha512 } from "../lib/transfer/chunk.ts";
import { hasUnprintable } from "../lib/common/printable.ts";
import {
  makeChunks,
  produceRaw,
  Reconstructor,
  startTestBroker,
  uniqueTopic,
  writeTestConfig,
} from "./helpers/kafka.ts";
import { makeOutTempDir, ROOT } from "./helpers/run_task.ts";

/** Messages whose file name is a megabyte long. */
const HUGE_NAMES = 20;
/** The bytes of each of those names. */
const HUGE_NAME_BYTES = 1_000_000;

/** A one-chunk file message named `filename`, with some fields changed. */
function oneChunk(
  filename: string,
  text: string,
  fields: Partial<FileChunk> = {},
): Uint8Array {
  const data = new TextEncoder().encode(text);
  return encodeChunk({
    ...makeChunks(data, filename, data.length)[0],
    ...fields,
  });
}

/** Every name under `folder`, recursively. */
function namesUnder(folder: string): string[] {
  const names: string[] = [];
  for (const entry of Deno.readDirSync(folder)) {
    names.push(entry.name);
    if (entry.isDirectory) names.push(...namesUnder(`${folder}/${entry.name}`));
  }
  return names;
}

/** Bytes of a file, 0 when it does not exist. */
function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

Deno.test("reconstruct_data_files prints hostile names short and escaped, creates none, and keeps what it says it kept", async () => {
  const broker = await startTestBroker();
  const dir = await makeOutTempDir("hostile-names");
  const config = await writeTestConfig(dir, broker.bootstrap);
  try {
    const topic = uniqueTopic("hostile_names");
    // Twelve folders of 200 characters: each part fits, the flat name in
    // rejected/ would not.
    const deep = Array.from({ length: 12 }, (_, i) => `${i}`.padEnd(200, "d"))
      .join("/");
    const longName = `${"n".repeat(246)}.bin`;
    // In batches of five megabytes: the broker takes ten at most.
    for (let first = 0; first < HUGE_NAMES; first += 5) {
      await produceRaw(
        broker.bootstrap,
        topic,
        Array.from({ length: 5 }, (_, i) =>
          oneChunk(
            `${"x".repeat(HUGE_NAME_BYTES)}${first + i}.bin`,
            `huge ${first + i}`,
          )),
      );
    }
    await produceRaw(broker.bootstrap, topic, [
      oneChunk("deep.bin", "deep", { subdir: "a/".repeat(300_000) + "b" }),
      oneChunk(`${"y".repeat(252)}.bin`, "one byte too long"),
      oneChunk("evil\u202Egnp.bin", "rlo"),
      oneChunk("line\u2028ERROR: forged.bin", "ls"),
      oneChunk("\uFEFFbom.bin", "bom"),
      oneChunk("zero\u200Bwidth.bin", "zw"),
      oneChunk("ok.bin", "in folder", { subdir: "sub\u2029dir" }),
      oneChunk("tampered.bin", "tampered", {
        subdir: deep,
        fileHash: sha512(new Uint8Array([1])),
      }),
      oneChunk(longName, "a long but legal name"),
      oneChunk("after.txt", "after the hostile ones\n"),
    ]);
    const rebuilt = `${dir}/rebuilt`;
    const reconstructor = Reconstructor.start(config, topic, rebuilt);
    await reconstructor.waitForFiles([
      [`${rebuilt}/${longName}`, 21],
      [`${rebuilt}/after.txt`, 23],
    ]);
    const run = await reconstructor.quit();
    strictEqual(run.code, 0, run.stderr);
    const output = run.stdout + run.stderr;

    // 20 MB of names cost a few kilobytes of output, no line is long.
    ok(output.length < 30_000, `${output.length} characters of output`);
    for (const line of output.split("\n")) {
      ok(line.length < 800, `a line of ${line.length} characters`);
    }
    strictEqual(
      output.match(/unsafe path \(the path is 100000\d characters long/g)
        ?.length,
      HUGE_NAMES,
      output,
    );
    match(output, /the path is 600011 characters long/);
    match(output, /filename has a part of 256 bytes/);

    // Format characters are escaped, never printed, never a file's name.
    ok(!hasUnprintable(output.replaceAll("\n", "")), "no raw format character");
    match(output, /evil\\u202egnp\.bin/);
    match(output, /line\\u2028ERROR: forged\.bin/);
    match(output, /\\ufeffbom\.bin/);
    match(output, /zero\\u200bwidth\.bin/);
    match(output, /sub\\u2029dir/);
    ok(!/\nERROR: forged/.test(output), "no forged line");
    const created = namesUnder(`${ROOT}${rebuilt}`);
    deepStrictEqual(created.filter(hasUnprintable), []);

    // A legal long name is created whole, and printed short.
    ok(created.includes(longName));
    match(output, /File n{100,}\.\.\. \(250 characters\) successfully/);

    // What is said to be kept is kept, under a name the disk takes.
    const rejected = `${ROOT}${rebuilt}/.reconstruct_data_files/rejected`;
    const kept = [...Deno.readDirSync(rejected)].map((entry) => entry.name);
    strictEqual(kept.length, 1, output);
    ok(kept[0].startsWith("0ddd"), kept[0]);
    ok(new TextEncoder().encode(kept[0]).length <= 255, kept[0]);
    match(
      output,
      /File 0d+\.\.\. \(2424 characters\) not moved into place: it does not match its SHA-512; kept at /,
    );

    // No row was written for a refused name: the record stays small.
    const state = `${ROOT}${rebuilt}/.reconstruct_data_files/state.db`;
    const stateBytes = sizeOf(state) + sizeOf(`${state}-wal`);
    ok(stateBytes < 200_000, `state.db and its log take ${stateBytes} bytes`);
  } finally {
    await broker.stop();
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});
