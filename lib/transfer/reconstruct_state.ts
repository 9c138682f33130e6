/**
 * The reconstructor's memory that survives a crash: which chunks of which file
 * are already on disk.
 *
 * A SQLite file inside the working folder's state folder keeps one row per file
 * version and one per run of chunks written one after another (a gathered
 * write: up to 64 chunks of 16 KiB), with the SHA-512 each chunk's message
 * declared (checked only if the whole file's hash does not match). A run's
 * row is added only after its bytes are in the partial file, and the Kafka
 * offset is committed only after that. One row per chunk, as before, cost a
 * 512 MiB rebuild at 16 KiB 122-127 ms of its main thread for 32,768 rows
 * (measured alone); one per run, 512 rows. Records made by an older version
 * keep their per-chunk rows, which are still read.
 * Chunk runs (and the rows of new files of one chunk) are written in
 * batched transactions (prepared statements, one commit per
 * {@linkcode CHUNK_BATCH} rows, not one per small file):
 * {@linkcode ReconstructState.flush} commits the open batch, and must be
 * called before a Kafka commit; a new file of several chunks, a finished,
 * forgotten or dropped file commits it too. A crash loses at most the unflushed rows, whose chunks are
 * read again from the last Kafka commit.
 * So a reconstructor killed at any moment and restarted with the same consumer
 * group re-reads at most a few chunks it already has, and finishes every file.
 *
 * @example
 * ```ts
 * import { ReconstructState } from "./reconstruct_state.ts";
 *
 * const hash = new Uint8Array(64); // the whole file's SHA-512, from a message
 * const state = new ReconstructState("out/rebuilt/.reconstruct_data_files/state.db");
 * state.addFile({ key: "k1", relativePath: "a.bin", totalChunks: 2, chunkSize: 16384, fileHash: hash });
 * state.addChunks("k1", [{ index: 1, hash }, { index: 2, hash }]);
 * state.close();
 * ```
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { openStateDatabase } from "../common/state_db.ts";

/** Rows (new files, chunks, finished files) written in one transaction, at most. */
export const CHUNK_BATCH = 512;

/** One version of one file being rebuilt. */
export interface FileRecord {
  /** Identifies the version: folder, name, append and whole-file hash. */
  key: string;
  /** Path under the working folder, POSIX style. */
  relativePath: string;
  /** How many chunks the file has. */
  totalChunks: number;
  /** Bytes in every chunk but the last. */
  chunkSize: number;
  /** SHA-512 of the whole file, from the messages. */
  fileHash: Uint8Array;
  /** The sender's modification time (seconds), if the messages carried one. */
  mtime?: number;
}

/** A file not finished yet, with the chunks already on disk. */
export interface PendingFile extends FileRecord {
  /** 1-based numbers of the chunks already written. */
  chunksOnDisk: number[];
  /** When its first chunk arrived (ISO 8601). */
  startedAt: string;
}

/** A chunk on disk and the SHA-512 its message declared. */
export interface ChunkHash {
  /** 1-based, as in the message format. */
  index: number;
  /** 64 bytes. */
  hash: Uint8Array;
}

/** Bytes of one chunk's SHA-512 in a run's row. */
const HASH_BYTES = 64;

/** How a file version ended. */
export type FileOutcome = "reconstructed" | "rejected";

/** The durable record, one SQLite file. */
export class ReconstructState {
  readonly #db: DatabaseSync;
  readonly #addRun: StatementSync;
  readonly #runsWith: StatementSync;
  readonly #dropRun: StatementSync;
  readonly #addFile: StatementSync;
  readonly #outcome: StatementSync;
  readonly #markFinished: StatementSync;
  readonly #dropChunks: StatementSync;
  readonly #dropRuns: StatementSync;
  readonly #dropChunk: StatementSync;
  readonly #chunkHash: StatementSync;
  /** Rows in the open transaction; 0 when none is open. */
  #batched = 0;

  /** Opens (or creates) the record at `path`. */
  constructor(path: string) {
    this.#db = openStateDatabase(
      path,
      `
      CREATE TABLE IF NOT EXISTS files (
        key TEXT PRIMARY KEY,
        relative_path TEXT NOT NULL,
        total_chunks INTEGER NOT NULL,
        chunk_size INTEGER NOT NULL,
        file_hash BLOB NOT NULL,
        outcome TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT
      );
      CREATE TABLE IF NOT EXISTS chunks (
        key TEXT NOT NULL,
        chunk_i INTEGER NOT NULL,
        chunk_hash BLOB,
        PRIMARY KEY (key, chunk_i)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS chunk_runs (
        key TEXT NOT NULL,
        first_chunk INTEGER NOT NULL,
        last_chunk INTEGER NOT NULL,
        chunk_hashes BLOB NOT NULL
      );
      CREATE INDEX IF NOT EXISTS chunk_runs_by_key
        ON chunk_runs (key, first_chunk);
    `,
    );
    // Records made before chunks were written unchecked get the column; their
    // rows keep NULL there: those chunks were checked before they were written.
    const chunkColumns = this.#db.prepare("PRAGMA table_info(chunks)")
      .all() as {
        name: string;
      }[];
    if (!chunkColumns.some((column) => column.name === "chunk_hash")) {
      this.#db.exec("ALTER TABLE chunks ADD COLUMN chunk_hash BLOB");
    }
    // Records made before the modification time was kept get its column.
    const columns = this.#db.prepare("PRAGMA table_info(files)").all() as {
      name: string;
    }[];
    if (!columns.some((column) => column.name === "mtime")) {
      this.#db.exec("ALTER TABLE files ADD COLUMN mtime REAL");
    }
    // chunk_hashes: 64 bytes per chunk, first_chunk's first. A chunk in
    // several runs (read again after a restart, or a copy that replaced a
    // damaged one) has the hash of the newest run (the highest rowid).
    this.#addRun = this.#db.prepare(
      `INSERT INTO chunk_runs (key, first_chunk, last_chunk, chunk_hashes)
         VALUES (?, ?, ?, ?)`,
    );
    this.#runsWith = this.#db.prepare(
      `SELECT rowid, first_chunk, last_chunk, chunk_hashes FROM chunk_runs
        WHERE key = ? AND first_chunk <= ?2 AND last_chunk >= ?2
        ORDER BY rowid DESC`,
    );
    this.#dropRun = this.#db.prepare("DELETE FROM chunk_runs WHERE rowid = ?");
    this.#addFile = this.#db.prepare(
      `INSERT OR IGNORE INTO files
         (key, relative_path, total_chunks, chunk_size, file_hash, started_at, mtime)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#outcome = this.#db.prepare("SELECT outcome FROM files WHERE key = ?");
    this.#markFinished = this.#db.prepare(
      "UPDATE files SET outcome = ?, finished_at = ? WHERE key = ?",
    );
    this.#dropChunks = this.#db.prepare("DELETE FROM chunks WHERE key = ?");
    this.#dropRuns = this.#db.prepare("DELETE FROM chunk_runs WHERE key = ?");
    this.#dropChunk = this.#db.prepare(
      "DELETE FROM chunks WHERE key = ? AND chunk_i = ?",
    );
    this.#chunkHash = this.#db.prepare(
      "SELECT chunk_hash FROM chunks WHERE key = ? AND chunk_i = ?",
    );
  }

  /** Adds a row's change to the open batch (opening one if needed). */
  #inBatch(change: () => void): void {
    if (this.#batched === 0) this.#db.exec("BEGIN");
    change();
    if (++this.#batched >= CHUNK_BATCH) this.flush();
  }

  /** The outcome of a finished file version, or undefined while pending/unknown. */
  outcome(key: string): FileOutcome | undefined {
    const row = this.#outcome.get(key) as
      | { outcome: FileOutcome | null }
      | undefined;
    return row?.outcome ?? undefined;
  }

  /**
   * Remembers a new file version (once). A file of several chunks is
   * committed at once (with the open batch): a file in progress is on record
   * as soon as its partial file exists. A file of one chunk, finished in the
   * same step, joins the open batch: killed before it is flushed, nothing
   * committed passed it, and its partial file is removed at the next start.
   */
  addFile(file: FileRecord): void {
    this.#inBatch(() =>
      this.#addFile.run(
        file.key,
        file.relativePath,
        file.totalChunks,
        file.chunkSize,
        file.fileHash,
        new Date().toISOString(),
        file.mtime ?? null,
      )
    );
    if (file.totalChunks > 1) this.flush();
  }

  /**
   * Records that chunk `chunkIndex` is on disk, with the SHA-512 its message
   * declared, in the open batch: durable after the next {@linkcode flush} (or
   * any other change). A chunk recorded before gets the new hash (a copy
   * that replaced a damaged one).
   */
  addChunk(key: string, chunkIndex: number, chunkHash: Uint8Array): void {
    this.addChunks(key, [{ index: chunkIndex, hash: chunkHash }]);
  }

  /**
   * Records `chunks` on disk, as {@linkcode addChunk} does one: one row per
   * run of chunks whose numbers follow one another (a gathered write is one
   * run).
   *
   * @example
   * ```ts
   * import { ReconstructState } from "./reconstruct_state.ts";
   *
   * const state = new ReconstructState(":memory:");
   * const hash = new Uint8Array(64);
   * state.addChunks("k1", [1, 2, 3, 7].map((index) => ({ index, hash })));
   * state.close(); // two rows were added: chunks 1 to 3, and 7
   * ```
   */
  addChunks(key: string, chunks: readonly ChunkHash[]): void {
    let start = 0;
    for (let i = 1; i <= chunks.length; i++) {
      if (i < chunks.length && chunks[i].index === chunks[i - 1].index + 1) {
        continue;
      }
      const run = chunks.slice(start, i);
      const hashes = new Uint8Array(run.length * HASH_BYTES);
      run.forEach(({ hash }, n) => hashes.set(hash, n * HASH_BYTES));
      this.#inBatch(() =>
        this.#addRun.run(key, run[0].index, run.at(-1)!.index, hashes)
      );
      start = i;
    }
  }

  /**
   * The SHA-512 recorded for a chunk on disk: undefined when it is not
   * recorded, null when it was checked before it was written (a record made
   * by an older version of this program).
   */
  chunkHash(key: string, chunkIndex: number): Uint8Array | null | undefined {
    const run = this.#runsWith.get(key, chunkIndex) as RunRow | undefined;
    if (run) return hashInRun(run, chunkIndex);
    // A record made by an older version: one row per chunk.
    const row = this.#chunkHash.get(key, chunkIndex) as
      | { chunk_hash: Uint8Array | null }
      | undefined;
    if (!row) return undefined;
    return row.chunk_hash ? new Uint8Array(row.chunk_hash) : null;
  }

  /** Forgets that chunk `chunkIndex` is on disk (it was found damaged). */
  dropChunk(key: string, chunkIndex: number): void {
    this.#inBatch(() => {
      this.#dropChunk.run(key, chunkIndex);
      // Every run holding it is cut in two around it (oldest first, so the
      // newest stays newest).
      const runs = (this.#runsWith.all(key, chunkIndex) as RunRow[]).reverse();
      for (const run of runs) {
        this.#dropRun.run(run.rowid);
        for (
          const [first, last] of [
            [run.first_chunk, chunkIndex - 1],
            [chunkIndex + 1, run.last_chunk],
          ]
        ) {
          if (first > last) continue;
          const from = (first - run.first_chunk) * HASH_BYTES;
          const to = (last - run.first_chunk + 1) * HASH_BYTES;
          this.#addRun.run(key, first, last, run.chunk_hashes.slice(from, to));
        }
      }
    });
  }

  /** Commits the rows added so far (call before committing Kafka offsets). */
  flush(): void {
    if (this.#batched === 0) return;
    this.#db.exec("COMMIT");
    this.#batched = 0;
  }

  /**
   * Marks a version finished and forgets its chunk rows, committed at once
   * with the open batch: another connection (the catalog's look at the
   * record) sees it, and none waits on an open transaction.
   */
  finish(key: string, outcome: FileOutcome): void {
    this.#inBatch(() => {
      this.#markFinished.run(outcome, new Date().toISOString(), key);
      this.#dropChunks.run(key);
      this.#dropRuns.run(key);
    });
    this.flush();
  }

  /** Forgets a finished version, so that it can be rebuilt from scratch. */
  forget(key: string): void {
    this.flush();
    this.#db.prepare("DELETE FROM files WHERE key = ?").run(key);
  }

  /** Forgets an unfinished version and its chunks (its partial file is gone). */
  drop(key: string): void {
    this.flush();
    this.#db.exec("BEGIN");
    this.#dropChunks.run(key);
    this.#dropRuns.run(key);
    this.#db.prepare("DELETE FROM files WHERE key = ?").run(key);
    this.#db.exec("COMMIT");
  }

  /** Every unfinished file version, with the chunks already on disk. */
  pendingFiles(): PendingFile[] {
    this.flush();
    const files = this.#db.prepare(
      `SELECT key, relative_path, total_chunks, chunk_size, file_hash, started_at, mtime
         FROM files WHERE outcome IS NULL`,
    ).all() as {
      mtime: number | null;
      key: string;
      relative_path: string;
      total_chunks: number;
      chunk_size: number;
      file_hash: Uint8Array;
      started_at: string;
    }[];
    const chunks = this.#db.prepare(
      "SELECT chunk_i FROM chunks WHERE key = ? ORDER BY chunk_i",
    );
    const runs = this.#db.prepare(
      "SELECT first_chunk, last_chunk FROM chunk_runs WHERE key = ?",
    );
    const onDisk = (key: string): number[] => {
      const found = new Set(
        (chunks.all(key) as { chunk_i: number }[]).map((c) => c.chunk_i),
      );
      for (const run of runs.all(key) as RunRow[]) {
        for (let i = run.first_chunk; i <= run.last_chunk; i++) found.add(i);
      }
      return [...found].sort((a, b) => a - b);
    };
    return files.map((row) => ({
      key: row.key,
      relativePath: row.relative_path,
      totalChunks: row.total_chunks,
      chunkSize: row.chunk_size,
      fileHash: new Uint8Array(row.file_hash),
      startedAt: row.started_at,
      mtime: row.mtime ?? undefined,
      chunksOnDisk: onDisk(row.key),
    }));
  }

  /** The versions moved into place (of one path, if given), oldest first. */
  reconstructedFiles(relativePath?: string): FileRecord[] {
    const rows = this.#db.prepare(
      `SELECT key, relative_path, total_chunks, chunk_size, file_hash
         FROM files WHERE outcome = 'reconstructed'
          AND (? IS NULL OR relative_path = ?)
        ORDER BY finished_at`,
    ).all(relativePath ?? null, relativePath ?? null) as {
      key: string;
      relative_path: string;
      total_chunks: number;
      chunk_size: number;
      file_hash: Uint8Array;
    }[];
    return rows.map((row) => ({
      key: row.key,
      relativePath: row.relative_path,
      totalChunks: row.total_chunks,
      chunkSize: row.chunk_size,
      fileHash: new Uint8Array(row.file_hash),
    }));
  }

  /**
   * Commits the open batch and closes the database. On a full disk the batch
   * is rolled back instead (no Kafka commit passed its chunks, so they are
   * read again) and what was committed stays: closing never throws for it.
   */
  close(): void {
    try {
      this.flush();
    } catch {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // SQLite rolled the transaction back itself.
      }
    }
    try {
      this.#db.close();
    } catch {
      // Its write-ahead log could not be folded in; the next open does it.
    }
  }
}

/** A row of the chunk_runs table (a type, as SQLite's rows are records). */
type RunRow = {
  rowid: number;
  first_chunk: number;
  last_chunk: number;
  chunk_hashes: Uint8Array;
};

/** Chunk `chunkIndex`'s 64 bytes in `run`'s hashes, a copy. */
function hashInRun(run: RunRow, chunkIndex: number): Uint8Array {
  const from = (chunkIndex - run.first_chunk) * HASH_BYTES;
  return run.chunk_hashes.slice(from, from + HASH_BYTES);
}
