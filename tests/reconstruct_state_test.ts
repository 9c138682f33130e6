/**
 * The reconstructor's crash-safe record of the chunks on disk: one row per
 * run of chunks written together, each chunk's declared SHA-512 found again,
 * a damaged chunk forgotten without its neighbours, and a record made by the
 * version with one row per chunk still read.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { ReconstructState } from "../lib/transfer/reconstruct_state.ts";
import { makeOutTempDir, ROOT } from "./helpers/run_task.ts";

/** A hash whose bytes all say `n`. */
const hashOf = (n: number) => new Uint8Array(64).fill(n);

/** A record in a new folder, with one file of 10 chunks. */
async function newState(): Promise<{ path: string; state: ReconstructState }> {
  const path = `${ROOT}${await makeOutTempDir("state")}/state.db`;
  const state = new ReconstructState(path);
  state.addFile({
    key: "k1",
    relativePath: "a.bin",
    totalChunks: 10,
    chunkSize: 16384,
    fileHash: hashOf(0),
  });
  return { path, state };
}

/** The rows of chunk_runs, as [first, last]. */
function runRows(path: string): number[][] {
  const db = new DatabaseSync(path);
  try {
    const rows = db.prepare(
      "SELECT first_chunk, last_chunk FROM chunk_runs ORDER BY rowid",
    ).all() as { first_chunk: number; last_chunk: number }[];
    return rows.map((row) => [row.first_chunk, row.last_chunk]);
  } finally {
    db.close();
  }
}

Deno.test("chunks written together are one row; each chunk's hash is found again, and the chunks on disk are listed after a restart", async () => {
  const { path, state } = await newState();
  state.addChunks(
    "k1",
    [1, 2, 3, 7].map((index) => ({
      index,
      hash: hashOf(index),
    })),
  );
  state.close();
  deepStrictEqual(runRows(path), [[1, 3], [7, 7]]);

  const reopened = new ReconstructState(path);
  try {
    for (const index of [1, 2, 3, 7]) {
      deepStrictEqual(reopened.chunkHash("k1", index), hashOf(index));
    }
    strictEqual(reopened.chunkHash("k1", 4), undefined);
    strictEqual(reopened.chunkHash("k2", 1), undefined);
    deepStrictEqual(reopened.pendingFiles()[0].chunksOnDisk, [1, 2, 3, 7]);
  } finally {
    reopened.close();
  }
});

Deno.test("a damaged chunk is forgotten alone, its run's other chunks kept with their hashes; a copy written later has its own hash", async () => {
  const { path, state } = await newState();
  try {
    state.addChunks(
      "k1",
      [1, 2, 3, 4].map((index) => ({
        index,
        hash: hashOf(index),
      })),
    );
    state.dropChunk("k1", 2);
    deepStrictEqual(state.pendingFiles()[0].chunksOnDisk, [1, 3, 4]);
    strictEqual(state.chunkHash("k1", 2), undefined);
    deepStrictEqual(state.chunkHash("k1", 1), hashOf(1));
    deepStrictEqual(state.chunkHash("k1", 4), hashOf(4));
    // The good copy, then the same chunk read again with another hash.
    state.addChunk("k1", 2, hashOf(20));
    state.addChunks("k1", [{ index: 2, hash: hashOf(21) }, {
      index: 3,
      hash: hashOf(3),
    }]);
    deepStrictEqual(state.chunkHash("k1", 2), hashOf(21));
    deepStrictEqual(state.pendingFiles()[0].chunksOnDisk, [1, 2, 3, 4]);
    state.finish("k1", "reconstructed");
  } finally {
    state.close();
  }
  deepStrictEqual(runRows(path), []);
});

Deno.test("a record with one row per chunk (made by the version before) is read: its chunks and hashes, and dropped with its file", async () => {
  const { path, state } = await newState();
  state.close();
  const db = new DatabaseSync(path);
  const insert = db.prepare(
    "INSERT INTO chunks (key, chunk_i, chunk_hash) VALUES (?, ?, ?)",
  );
  for (const index of [1, 2]) insert.run("k1", index, hashOf(index));
  db.close();

  const reopened = new ReconstructState(path);
  try {
    reopened.addChunks("k1", [{ index: 3, hash: hashOf(3) }]);
    deepStrictEqual(reopened.pendingFiles()[0].chunksOnDisk, [1, 2, 3]);
    deepStrictEqual(reopened.chunkHash("k1", 2), hashOf(2));
    reopened.dropChunk("k1", 1);
    deepStrictEqual(reopened.pendingFiles()[0].chunksOnDisk, [2, 3]);
    reopened.drop("k1");
    deepStrictEqual(reopened.pendingFiles(), []);
    strictEqual(reopened.chunkHash("k1", 2), undefined);
  } finally {
    reopened.close();
  }
});
