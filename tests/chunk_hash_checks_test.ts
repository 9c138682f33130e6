/**
 * The assembler writes chunks without checking their own SHA-512 first (the
 * whole file's hash is checked anyway), so these tests make sure a damaged
 * chunk still never ends up in a finished file, and that a good copy of it,
 * read before or after the file's last chunk, or after a restart, still
 * completes the file. No Kafka: chunks go straight to the assembler, through
 * the real message format with the hash check left out, as the reconstructor
 * decodes them.
 */
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  decodeChunk,
  type FileChunk,
  InvalidChunkError,
  sha512,
} from "../lib/transfer/chunk.ts";
import {
  type ChunkOutcome,
  FileAssembler,
} from "../lib/transfer/file_assembler.ts";
import { STATE_FOLDER } from "../lib/transfer/safe_paths.ts";
import { makeOutTempDir, ROOT } from "./helpers/run_task.ts";
import { chunkMessages, randomBytes } from "./helpers/chunk_messages.ts";

/** The chunks of `bytes`, as a sender makes them and the reconstructor decodes them. */
function chunksOf(bytes: Uint8Array, chunkSize: number): FileChunk[] {
  return chunkMessages(bytes, chunkSize).map((message) =>
    decodeChunk(message, { checkHash: false })
  );
}

/** A copy of `chunk` with one bit of its data flipped (its declared hash kept). */
function damaged(chunk: FileChunk): FileChunk {
  const data = chunk.data.slice();
  data[data.length >> 1] ^= 0x10;
  return { ...chunk, data };
}

/** Runs `test` in a fresh working folder, removed after. */
async function inWorkingFolder(test: (dir: string) => Promise<void>) {
  const dir = `${ROOT}${await makeOutTempDir("chunkhash")}`;
  try {
    await test(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Each chunk's outcome, in turn. */
async function acceptAll(
  assembler: FileAssembler,
  chunks: FileChunk[],
): Promise<ChunkOutcome[]> {
  const outcomes = [];
  for (const chunk of chunks) outcomes.push(await assembler.accept(chunk));
  return outcomes;
}

Deno.test("a damaged chunk is replaced by a good copy read before the file's end, after the running hash took it in; the file goes in whole", async () => {
  await inWorkingFolder(async (dir) => {
    const bytes = randomBytes(5000);
    const chunks = chunksOf(bytes, 1024);
    const assembler = await FileAssembler.open(dir);
    // In order, so the file's hash is kept as they come: it took in the damage.
    const outcomes = await acceptAll(assembler, [
      chunks[0],
      damaged(chunks[1]),
      chunks[2],
      chunks[1],
      ...chunks.slice(3),
    ]);
    assembler.close();
    deepStrictEqual(outcomes.map((o) => o.kind), [
      "written",
      "written",
      "written",
      "repaired",
      "written",
      "reconstructed",
    ]);
    deepStrictEqual(await Deno.readFile(`${dir}/day1/scope.trc`), bytes);
  });
});

Deno.test("a damaged chunk found at the file's end is awaited again, across a restart; its good copy completes the file", async () => {
  await inWorkingFolder(async (dir) => {
    const bytes = randomBytes(5000);
    const chunks = chunksOf(bytes, 1024);
    const first = await FileAssembler.open(dir);
    const outcomes = await acceptAll(first, [
      chunks[0],
      damaged(chunks[1]),
      chunks[2],
      damaged(chunks[3]),
      chunks[4],
    ]);
    deepStrictEqual(outcomes.at(-1), {
      kind: "damaged",
      relativePath: "day1/scope.trc",
      chunks: [2, 4],
    });
    deepStrictEqual(
      first.inProgress().map((f) => [f.chunksOnDisk, f.totalChunks]),
      [[3, 5]],
    );
    first.close();
    strictEqual(
      await Deno.stat(`${dir}/day1/scope.trc`).then(() => true, () => false),
      false,
    );

    const restarted = await FileAssembler.open(dir);
    // A bad copy of a chunk on disk is skipped, with the reason.
    await rejects(
      restarted.accept(damaged(chunks[0])),
      (error) =>
        error instanceof InvalidChunkError &&
        error.message === "chunk data does not match its SHA-512",
    );
    const again = await acceptAll(restarted, [chunks[3], chunks[1]]);
    restarted.close();
    deepStrictEqual(again.map((o) => o.kind), ["written", "reconstructed"]);
    deepStrictEqual(await Deno.readFile(`${dir}/day1/scope.trc`), bytes);
  });
});

Deno.test("a file whose chunks all match their hashes but not the file's hash is kept aside in rejected/", async () => {
  await inWorkingFolder(async (dir) => {
    const bytes = randomBytes(3000);
    const other = sha512(new Uint8Array([1]));
    const chunks = chunksOf(bytes, 1024).map((c) => ({
      ...c,
      fileHash: other,
    }));
    const assembler = await FileAssembler.open(dir);
    const outcomes = await acceptAll(assembler, chunks);
    assembler.close();
    const last = outcomes.at(-1)!;
    strictEqual(last.kind, "rejected");
    strictEqual(
      last.kind === "rejected" && last.reason,
      "it does not match its SHA-512",
    );
    const rejected = `${dir}/${STATE_FOLDER}/rejected`;
    strictEqual((await Array.fromAsync(Deno.readDir(rejected))).length, 1);
  });
});

Deno.test("a big file hashed on the second core: a damaged chunk replaced after the worker hashed past it still gives the right file", async () => {
  await inWorkingFolder(async (dir) => {
    // 20 MiB: over the 16 MiB from which the worker hashes, in 256 KiB chunks.
    const bytes = randomBytes(80 * 256 * 1024 + 77);
    const chunks = chunksOf(bytes, 256 * 1024);
    const assembler = await FileAssembler.open(dir);
    const outcomes = await acceptAll(assembler, [
      damaged(chunks[3]),
      ...chunks.slice(0, 3),
      ...chunks.slice(4, 60), // the worker is told of 12 MiB on disk
    ]);
    // Time for the worker to hash those 12 MiB, damage included.
    await new Promise((resolve) => setTimeout(resolve, 500));
    outcomes.push(
      ...await acceptAll(assembler, [chunks[3], ...chunks.slice(60)]),
    );
    assembler.close();
    strictEqual(outcomes.filter((o) => o.kind === "repaired").length, 1);
    strictEqual(outcomes.at(-1)!.kind, "reconstructed");
    deepStrictEqual(
      sha512(await Deno.readFile(`${dir}/day1/scope.trc`)),
      sha512(bytes),
    );
  });
});

Deno.test("a damaged file of one chunk is skipped with the reason, and nothing of it is started", async () => {
  await inWorkingFolder(async (dir) => {
    const bytes = randomBytes(700);
    const [chunk] = chunksOf(bytes, 1024);
    const assembler = await FileAssembler.open(dir);
    await rejects(
      assembler.accept(damaged(chunk)),
      (error) =>
        error instanceof InvalidChunkError &&
        error.message === "chunk data does not match its SHA-512",
    );
    deepStrictEqual(assembler.inProgress(), []);
    strictEqual((await assembler.accept(chunk)).kind, "reconstructed");
    assembler.close();
    deepStrictEqual(await Deno.readFile(`${dir}/day1/scope.trc`), bytes);
  });
});

Deno.test("a record made before chunk hashes were kept (chunks checked before they were written) is carried on", async () => {
  await inWorkingFolder(async (dir) => {
    const bytes = randomBytes(3000);
    const chunks = chunksOf(bytes, 1024);
    const first = await FileAssembler.open(dir);
    await acceptAll(first, chunks.slice(0, 2));
    first.close();
    // The record as the older version left it: no chunk_hash column.
    const db = new DatabaseSync(`${dir}/${STATE_FOLDER}/state.db`);
    db.exec(`
      CREATE TABLE old_chunks (key TEXT NOT NULL, chunk_i INTEGER NOT NULL,
        PRIMARY KEY (key, chunk_i)) WITHOUT ROWID;
      INSERT INTO old_chunks
        WITH RECURSIVE each_chunk (key, i, last) AS (
          SELECT key, first_chunk, last_chunk FROM chunk_runs
          UNION ALL SELECT key, i + 1, last FROM each_chunk WHERE i < last
        ) SELECT key, i FROM each_chunk;
      DROP TABLE chunks;
      DROP TABLE chunk_runs;
      ALTER TABLE old_chunks RENAME TO chunks;
    `);
    db.close();

    const restarted = await FileAssembler.open(dir);
    const outcomes = await acceptAll(restarted, [chunks[1], chunks[2]]);
    restarted.close();
    deepStrictEqual(outcomes.map((o) => o.kind), [
      "duplicate",
      "reconstructed",
    ]);
    deepStrictEqual(await Deno.readFile(`${dir}/day1/scope.trc`), bytes);
  });
});
