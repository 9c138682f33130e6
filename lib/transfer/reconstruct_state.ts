/**
 * The reconstructor's memory that survives a crash: which chunks of which file
 * are already on disk.
 *
 * A SQLite file inside the working folder's state folder keeps one row per file
 * version and one per chunk written, with the SHA-512 its message declared
 * (checked only if the whole file's hash does not match). A chunk's row is
 * added only after its bytes are in the partial file, and the Kafka offset is
 * committed only after that.
 * Chunk rows (and the rows of new files of one chunk) are written in
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
 * state.addChunk("k1", 1, hash);
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

/** How a file version ended. */
export type FileOutcome = "reconstructed" | "rejected";

/** The durable record, one SQLite file. */
export class ReconstructState {
  readonly #db: DatabaseSync;
  readonly #addChunk: StatementSync;
  readonly #addFile: StatementSync;
  readonly #outcome: StatementSync;
  readonly #markFinished: StatementSync;
  readonly #dropChunks: StatementSync;
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
    this.#addChunk = this.#db.prepare(
      `INSERT INTO chunks (key, chunk_i, chunk_hash) VALUES (?, ?, ?)
         ON CONFLICT DO UPDATE SET chunk_hash = excluded.chunk_hash`,
    );
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
    this.#inBatch(() => this.#addChunk.run(key, chunkIndex, chunkHash));
  }

  /**
   * The SHA-512 recorded for a chunk on disk: undefined when it is not
   * recorded, null when it was checked before it was written (a record made
   * by an older version of this program).
   */
  chunkHash(key: string, chunkIndex: number): Uint8Array | null | undefined {
    const row = this.#chunkHash.get(key, chunkIndex) as
      | { chunk_hash: Uint8Array | null }
      | undefined;
    if (!row) return undefined;
    return row.chunk_hash ? new Uint8Array(row.chunk_hash) : null;
  }

  /** Forgets that chunk `chunkIndex` is on disk (it was found damaged). */
  dropChunk(key: string, chunkIndex: number): void {
    this.#inBatch(() => this.#dropChunk.run(key, chunkIndex));
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
    this.#db.prepare("DELETE FROM chunks WHERE key = ?").run(key);
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
    return files.map((row) => ({
      key: row.key,
      relativePath: row.relative_path,
      totalChunks: row.total_chunks,
      chunkSize: row.chunk_size,
      fileHash: new Uint8Array(row.file_hash),
      startedAt: row.started_at,
      mtime: row.mtime ?? undefined,
      chunksOnDisk: (chunks.all(row.key) as { chunk_i: number }[]).map((c) =>
        c.chunk_i
      ),
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
