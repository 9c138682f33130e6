/**
 * The stream processor's crash-safe registry: which file versions (path and
 * SHA-512) were processed, and which failed and why.
 *
 * A file version is recorded once its processor answered, before its copy
 * is removed from the working folder, in one SQLite transaction
 * (state_db.ts, WAL): killed at any moment, a restart finds each version
 * either recorded (never run again) or still waiting in the working folder
 * (run then). A failed version stays in the working folder, so
 * `--retry_failed` runs it again without reading the topic.
 *
 * @example
 * ```ts
 * import { ProcessRegistry } from "./process_registry.ts";
 *
 * const registry = ProcessRegistry.open("out/process/registry.db");
 * registry.record({ relativePath: "a.trc", sha512: "ab12", size: 3 }, "processed");
 * registry.outcome("a.trc", "ab12"); // "processed"
 * registry.close();
 * ```
 *
 * @module
 */
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { openStateDatabase } from "../common/state_db.ts";
import type { DataFile, KafkaProvenance } from "./processor_api.ts";
import { STATE_FOLDER } from "./safe_paths.ts";

/** What became of a file version. */
export type ProcessOutcome = "processed" | "failed";

/** A failed file version, as `--retry_failed` and the summary list it. */
export interface FailedFile {
  /** Its path in the working folder. */
  relativePath: string;
  /** Its SHA-512 (hex). */
  sha512: string;
  /** Why it failed, in one line. */
  reason: string;
  /** How many times it was tried. */
  attempts: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS files (
  relative_path TEXT NOT NULL,
  sha512 TEXT NOT NULL,
  size INTEGER NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('processed', 'failed')),
  reason TEXT,
  attempts INTEGER NOT NULL DEFAULT 1,
  kafka_topic TEXT,
  kafka_partition INTEGER,
  kafka_offset TEXT,
  recorded_at TEXT NOT NULL,
  PRIMARY KEY (relative_path, sha512)
)`;

/** The registry of one working folder. */
export class ProcessRegistry {
  readonly #db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Opens (creating if needed) the registry at `path`. */
  static open(path: string): ProcessRegistry {
    return new ProcessRegistry(openStateDatabase(path, SCHEMA));
  }

  /** What became of this version, or undefined if it was never run. */
  outcome(relativePath: string, sha512: string): ProcessOutcome | undefined {
    const row = this.#db.prepare(
      "SELECT outcome FROM files WHERE relative_path = ? AND sha512 = ?",
    ).get(relativePath, sha512) as { outcome: ProcessOutcome } | undefined;
    return row?.outcome;
  }

  /** Records what became of a version (a retry counts one more attempt). */
  record(
    file: Pick<DataFile, "relativePath" | "sha512" | "size" | "kafka">,
    outcome: ProcessOutcome,
    reason?: string,
  ): void {
    this.#db.prepare(
      `INSERT INTO files (relative_path, sha512, size, outcome, reason,
         kafka_topic, kafka_partition, kafka_offset, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (relative_path, sha512) DO UPDATE SET
         outcome = excluded.outcome, reason = excluded.reason,
         attempts = attempts + 1, recorded_at = excluded.recorded_at`,
    ).run(
      file.relativePath,
      file.sha512,
      file.size,
      outcome,
      reason ?? null,
      file.kafka?.topic ?? null,
      file.kafka?.partition ?? null,
      file.kafka?.offset ?? null,
      new Date().toISOString(),
    );
  }

  /** The versions that failed, oldest first. */
  failed(): FailedFile[] {
    return this.#db.prepare(
      `SELECT relative_path AS relativePath, sha512, reason, attempts
       FROM files WHERE outcome = 'failed' ORDER BY recorded_at`,
    ).all() as unknown as FailedFile[];
  }

  /** How many versions were processed and how many failed, over all runs. */
  counts(): Record<ProcessOutcome, number> {
    const rows = this.#db.prepare(
      "SELECT outcome, count(*) AS n FROM files GROUP BY outcome",
    ).all() as { outcome: ProcessOutcome; n: number }[];
    const counts = { processed: 0, failed: 0 };
    for (const row of rows) counts[row.outcome] = row.n;
    return counts;
  }

  /** Closes the database. */
  close(): void {
    this.#db.close();
  }
}

/**
 * The files waiting in `root` (complete, checked, not yet processed or
 * failed), as paths relative to it with `/`; the assembler's state
 * folder is left out.
 *
 * @example
 * ```ts
 * import { filesWaiting } from "./process_registry.ts";
 *
 * for await (const relativePath of filesWaiting("out/process/files")) {
 *   console.log(relativePath);
 * }
 * ```
 */
export async function* filesWaiting(
  root: string,
  under = "",
): AsyncGenerator<string> {
  const folder = under ? `${root}/${under}` : root;
  for await (const entry of Deno.readDir(folder)) {
    const relativePath = under ? `${under}/${entry.name}` : entry.name;
    if (entry.isDirectory && !(under === "" && entry.name === STATE_FOLDER)) {
      yield* filesWaiting(root, relativePath);
    } else if (entry.isFile) yield relativePath;
  }
}

/**
 * Everything a processor gets about one file waiting in `root`: its names,
 * size and time, and its bytes if it is at most `maxBytes` (a bigger one
 * is read by the processor as a stream, so memory stays bounded).
 *
 * @example
 * ```ts
 * import { describeDataFile } from "./process_registry.ts";
 *
 * const file = await describeDataFile("out/process/files", "day1/a.trc", "ab12", 1 << 26);
 * file.subfolder; // "day1"
 * ```
 */
export async function describeDataFile(
  root: string,
  relativePath: string,
  sha512: string,
  maxBytes: number,
  kafka?: KafkaProvenance,
): Promise<DataFile> {
  const path = join(root, ...relativePath.split("/"));
  const info = await Deno.stat(path);
  const slash = relativePath.lastIndexOf("/");
  return {
    name: relativePath.slice(slash + 1),
    subfolder: slash < 0 ? "" : relativePath.slice(0, slash),
    relativePath,
    path,
    bytes: info.size <= maxBytes ? await Deno.readFile(path) : undefined,
    sha512,
    size: info.size,
    mtimeMs: info.mtime?.getTime(),
    kafka,
  };
}
