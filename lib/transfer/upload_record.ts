/**
 * The uploader's memory that survives a crash: which chunks of which file
 * version Kafka has acknowledged.
 *
 * A folder watcher runs for weeks and is stopped, restarted, or killed. This
 * record, one SQLite file, lets a restarted watcher skip every file version
 * that was fully uploaded and finish the ones that were not, without sending
 * their acknowledged chunks again.
 *
 * A *version* of a file is its path under the watched folder, its size and
 * its modification time: edit a file and it is a new version, uploaded again.
 * When a version starts uploading, its SHA-512 and chunk size are stored; a
 * chunk's row is added only after Kafka acknowledged it. Acknowledgements that
 * arrive together (one Kafka batch) are written in one transaction, so the
 * record costs little even at thousands of chunks a second. Killed at any
 * moment, the uploader loses at most the rows of the batch being written:
 * those few chunks are sent twice, which the reconstructor ignores.
 *
 * @example
 * ```ts
 * import { UploadRecord } from "./upload_record.ts";
 *
 * const record = await UploadRecord.open("out/.upload_records/instrument.db");
 * const fileHash = new Uint8Array(64); // the SHA-512 of the file
 * const file = { relativePath: "day1/a.bin", size: 20000, mtimeMs: 1732233600000 };
 * if (!record.isUploaded(file)) {
 *   const version = record.begin(file, { fileHash, chunkSize: 16384, totalChunks: 2 });
 *   record.acknowledge(version.id, 1);
 *   record.acknowledge(version.id, 2);
 *   record.finish(version.id);
 * }
 * record.close();
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { openStateDatabase } from "../common/state_db.ts";
import { sameBytes } from "./chunk.ts";

/** One version of one file: where it is, how big, when last modified. */
export interface FileVersion {
  /** POSIX path under the watched folder, e.g. `day1/a.bin`. */
  relativePath: string;
  /** Size in bytes. */
  size: number;
  /** Modification time in ms since the epoch. */
  mtimeMs: number;
}

/** What the first pass over a version found. */
export interface VersionPlan {
  /** SHA-512 of the whole version. */
  fileHash: Uint8Array;
  /** Bytes in every chunk but the last. */
  chunkSize: number;
  /** How many chunks it has. */
  totalChunks: number;
}

/** A version being uploaded, and the chunks Kafka acknowledged before. */
export interface StartedVersion {
  /** Its row in the record. */
  id: number;
  /** 1-based numbers of the chunks Kafka acknowledged. */
  acknowledged: Set<number>;
}

/** A version that was uploaded completely. */
export interface UploadedVersion {
  /** POSIX path under the watched folder. */
  relativePath: string;
  /** When its upload started. */
  startedAt: Date;
  /** When Kafka acknowledged its last chunk. */
  finishedAt: Date;
}

/**
 * The record file for `directory` inside `recordFolder`: one file per watched
 * folder, named after the folder and a hash of its real path.
 *
 * @example
 * ```ts
 * await recordFileFor("/data/scope", "out/.upload_records");
 * // "out/.upload_records/scope-3f2a9c01b7e4.db"
 * ```
 */
export async function recordFileFor(
  directory: string,
  recordFolder: string,
): Promise<string> {
  const realPath = await Deno.realPath(directory);
  const id = createHash("sha256").update(realPath).digest("hex").slice(0, 12);
  return join(recordFolder, `${basename(realPath) || "root"}-${id}.db`);
}

/** The durable record of one watched folder. */
export class UploadRecord {
  readonly #db: DatabaseSync;
  /** Acknowledgements not yet written: [version id, chunk number]. */
  #unwritten: [number, number][] = [];

  private constructor(path: string) {
    this.#db = openStateDatabase(
      path,
      `
      CREATE TABLE IF NOT EXISTS versions (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ms REAL NOT NULL,
        file_hash BLOB,
        chunk_size INTEGER,
        total_chunks INTEGER,
        noticed_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        UNIQUE (path, size, mtime_ms)
      );
      CREATE INDEX IF NOT EXISTS versions_finished ON versions (finished_at);
      CREATE TABLE IF NOT EXISTS acknowledged_chunks (
        version_id INTEGER NOT NULL,
        chunk_i INTEGER NOT NULL,
        PRIMARY KEY (version_id, chunk_i)
      ) WITHOUT ROWID;
    `,
    );
  }

  /**
   * Opens (or creates) the record at `path`, creating its folder.
   *
   * @example
   * ```ts
   * const record = await UploadRecord.open("out/.upload_records/scope.db");
   * ```
   */
  static async open(path: string): Promise<UploadRecord> {
    await Deno.mkdir(join(path, ".."), { recursive: true });
    return new UploadRecord(path);
  }

  /**
   * Whether this exact version was uploaded completely, in any run.
   *
   * @example
   * ```ts
   * declare const record: UploadRecord;
   * record.isUploaded({ relativePath: "a.bin", size: 5, mtimeMs: 0 }); // false
   * ```
   */
  isUploaded(file: FileVersion): boolean {
    const row = this.#db.prepare(
      `SELECT 1 FROM versions WHERE path = ? AND size = ? AND mtime_ms = ?
         AND finished_at IS NOT NULL`,
    ).get(file.relativePath, file.size, file.mtimeMs);
    return row !== undefined;
  }

  /**
   * Notes a version that waits for its turn, so that a restart with
   * `--new_files_only` still takes it (see {@linkcode hasUnfinished}).
   *
   * @example
   * ```ts
   * declare const record: UploadRecord;
   * record.noteWaiting({ relativePath: "a.bin", size: 5, mtimeMs: 0 });
   * ```
   */
  noteWaiting(file: FileVersion): void {
    this.#db.prepare(
      `INSERT OR IGNORE INTO versions (path, size, mtime_ms, noticed_at)
         VALUES (?, ?, ?, ?)`,
    ).run(file.relativePath, file.size, file.mtimeMs, new Date().toISOString());
  }

  /**
   * Whether some version of `relativePath` was noticed or started but never
   * finished.
   *
   * @example
   * ```ts
   * declare const record: UploadRecord;
   * record.hasUnfinished("day1/a.bin"); // true after a kill mid-upload
   * ```
   */
  hasUnfinished(relativePath: string): boolean {
    const row = this.#db.prepare(
      "SELECT 1 FROM versions WHERE path = ? AND finished_at IS NULL",
    ).get(relativePath);
    return row !== undefined;
  }

  /**
   * Starts (or resumes) the upload of a version. The chunks acknowledged
   * before count only if the file's hash and the chunk size are the same as
   * then; otherwise the version starts over.
   *
   * @example
   * ```ts
   * declare const record: UploadRecord;
   * declare const file: FileVersion;
   * declare const fileHash: Uint8Array;
   * const { id, acknowledged } = record.begin(file, { fileHash, chunkSize: 16384, totalChunks: 2 });
   * ```
   */
  begin(file: FileVersion, plan: VersionPlan): StartedVersion {
    this.noteWaiting(file);
    const row = this.#db.prepare(
      `SELECT id, file_hash, chunk_size FROM versions
         WHERE path = ? AND size = ? AND mtime_ms = ?`,
    ).get(file.relativePath, file.size, file.mtimeMs) as {
      id: number;
      file_hash: Uint8Array | null;
      chunk_size: number | null;
    };
    const sameContent = row.file_hash !== null &&
      sameBytes(new Uint8Array(row.file_hash), plan.fileHash) &&
      row.chunk_size === plan.chunkSize;
    if (!sameContent) {
      this.#db.prepare("DELETE FROM acknowledged_chunks WHERE version_id = ?")
        .run(row.id);
      this.#db.prepare(
        `UPDATE versions SET file_hash = ?, chunk_size = ?, total_chunks = ?,
           started_at = ?, finished_at = NULL WHERE id = ?`,
      ).run(
        plan.fileHash,
        plan.chunkSize,
        plan.totalChunks,
        new Date().toISOString(),
        row.id,
      );
    }
    const chunks = this.#db.prepare(
      "SELECT chunk_i FROM acknowledged_chunks WHERE version_id = ?",
    ).all(row.id) as { chunk_i: number }[];
    return { id: row.id, acknowledged: new Set(chunks.map((c) => c.chunk_i)) };
  }

  /**
   * Records that Kafka acknowledged chunk `chunkIndex`. Calls made in the
   * same turn of the event loop (one batch) are written together, right
   * after it.
   *
   * @example
   * ```ts
   * declare const record: UploadRecord;
   * declare const version: StartedVersion;
   * record.acknowledge(version.id, 1);
   * ```
   */
  acknowledge(versionId: number, chunkIndex: number): void {
    if (this.#unwritten.length === 0) queueMicrotask(() => this.#write());
    this.#unwritten.push([versionId, chunkIndex]);
  }

  /**
   * Marks a version as completely uploaded. Its chunk rows, and older
   * unfinished versions of the same path, are no longer needed.
   *
   * @example
   * ```ts
   * declare const record: UploadRecord;
   * declare const version: StartedVersion;
   * record.finish(version.id);
   * ```
   */
  finish(versionId: number): void {
    this.#write();
    this.#inTransaction(() => {
      this.#db.prepare("UPDATE versions SET finished_at = ? WHERE id = ?")
        .run(new Date().toISOString(), versionId);
      // Older unfinished versions of the same path are obsolete now; a newer
      // one (recorded while this one was uploading) still has to go.
      this.#db.prepare(
        `DELETE FROM acknowledged_chunks WHERE version_id IN (
           SELECT id FROM versions WHERE finished_at IS NULL AND id < ?
             AND path = (SELECT path FROM versions WHERE id = ?))
         OR version_id = ?`,
      ).run(versionId, versionId, versionId);
      this.#db.prepare(
        `DELETE FROM versions WHERE finished_at IS NULL AND id < ?
           AND path = (SELECT path FROM versions WHERE id = ?)`,
      ).run(versionId, versionId);
    });
  }

  /**
   * Forgets a version that can no longer be uploaded (it changed or was
   * deleted); a changed file comes back as a new version.
   *
   * @example
   * ```ts
   * declare const record: UploadRecord;
   * record.forget({ relativePath: "a.bin", size: 5, mtimeMs: 0 });
   * ```
   */
  forget(file: FileVersion): void {
    this.#write();
    this.#inTransaction(() => {
      this.#db.prepare(
        `DELETE FROM acknowledged_chunks WHERE version_id IN (
           SELECT id FROM versions WHERE path = ? AND size = ? AND mtime_ms = ?
             AND finished_at IS NULL)`,
      ).run(file.relativePath, file.size, file.mtimeMs);
      this.#db.prepare(
        `DELETE FROM versions WHERE path = ? AND size = ? AND mtime_ms = ?
           AND finished_at IS NULL`,
      ).run(file.relativePath, file.size, file.mtimeMs);
    });
  }

  /**
   * The versions finished at or after `since`, oldest first.
   *
   * @example
   * ```ts
   * declare const record: UploadRecord;
   * declare const startedAt: Date;
   * for (const f of record.finishedSince(startedAt)) console.log(f.relativePath);
   * ```
   */
  finishedSince(since: Date): UploadedVersion[] {
    const rows = this.#db.prepare(
      `SELECT path, started_at, finished_at FROM versions
         WHERE finished_at >= ? ORDER BY finished_at, id`,
    ).all(since.toISOString()) as {
      path: string;
      started_at: string;
      finished_at: string;
    }[];
    return rows.map((row) => ({
      relativePath: row.path,
      startedAt: new Date(row.started_at),
      finishedAt: new Date(row.finished_at),
    }));
  }

  /** Writes what is pending and closes the database. */
  close(): void {
    this.#write();
    this.#db.close();
  }

  /** Writes the pending acknowledgements in one transaction. */
  #write(): void {
    if (this.#unwritten.length === 0) return;
    const rows = this.#unwritten;
    this.#unwritten = [];
    const insert = this.#db.prepare(
      "INSERT OR IGNORE INTO acknowledged_chunks (version_id, chunk_i) VALUES (?, ?)",
    );
    this.#inTransaction(() => {
      for (const [versionId, chunkIndex] of rows) {
        insert.run(versionId, chunkIndex);
      }
    });
  }

  /** Runs `work` in one transaction. */
  #inTransaction(work: () => void): void {
    this.#db.exec("BEGIN");
    try {
      work();
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }
}
