/**
 * Deciding which settled file to upload when, and remembering how each went.
 *
 * A folder watcher hands over files as they settle. The scheduler:
 *
 * - skips a version the {@linkcode UploadRecord} says was uploaded before;
 * - uploads up to `filesAtOnce` files at the same time. They all feed the
 *   same {@linkcode ChunkProducer}, whose bounded queue (`--queue_max_size`)
 *   is what limits memory, however many and however big the files are;
 * - connects the producers when there is work and disconnects them after
 *   `idleSeconds` without any: a connected client keeps its connections
 *   and their timers, which an idle watcher should not pay for;
 * - resumes a version whose upload was interrupted, sending only the chunks
 *   Kafka has not acknowledged yet, and records each acknowledgement;
 * - turns a file that changes or disappears during its upload into a warning
 *   (a changed file comes back from the watcher as a new version);
 * - tries again later when Kafka did not acknowledge every chunk;
 * - on {@linkcode UploadScheduler.finish}, starts nothing new and waits for
 *   the files in progress: they are finished, the waiting ones are left for
 *   the next start.
 *
 * @example
 * ```ts
 * import { UploadScheduler } from "./upload_scheduler.ts";
 * import type { ChunkProducer } from "../kafka/chunk_producer.ts";
 * import type { ProgressBoard } from "../common/progress.ts";
 * import type { SettledFile } from "./folder_watcher.ts";
 * import type { UploadRecord } from "./upload_record.ts";
 *
 * declare const record: UploadRecord; // UploadRecord.open(...)
 * declare const connectProducers: () => Promise<ChunkProducer>;
 * declare const board: ProgressBoard;
 * declare const settledFile: SettledFile;
 * const scheduler = new UploadScheduler(record, {
 *   connect: connectProducers,
 *   root: "data/incoming", chunkSize: 16384, filesAtOnce: 5, board,
 *   say: (level, message) => console.log(level, message),
 * });
 * scheduler.add(settledFile); // from FolderWatcher's `settled`
 * console.log(scheduler.status().done);
 * await scheduler.finish();
 * ```
 *
 * @module
 */
import type { ChunkProducer } from "../kafka/chunk_producer.ts";
import { printableName } from "../common/printable.ts";
import { describeError, fileExists, UserError } from "../common/cli.ts";
import { FileChangedError } from "./file_chunks.ts";
import type { SettledFile } from "./folder_watcher.ts";
import { logFileTimes, type Logger, type LogLevel } from "../common/log.ts";
import type { ProgressBoard } from "../common/progress.ts";
import { subdirOf, uploadWithProgress } from "./upload.ts";
import type { PositionSummary } from "../kafka/chunk_positions.ts";
import type { StartedVersion, UploadRecord } from "./upload_record.ts";

/** Where a file stands. */
export type FileState =
  | "waiting"
  | "in progress"
  | "done"
  | "skipped"
  | "failed"
  | "not uploaded";

/** One file as `check` shows it. */
export interface FileStatus {
  /** POSIX path under the watched folder. */
  relativePath: string;
  /** Where it stands. */
  state: FileState;
  /** Chunks Kafka has acknowledged so far. */
  chunksAcknowledged: number;
  /** Chunks in the file. */
  totalChunks: number;
}

/** Counts and the files worth showing. */
export interface SchedulerStatus {
  /** Settled files waiting for their turn. */
  waiting: number;
  /** Files being uploaded now. */
  inProgress: number;
  /** Uploaded completely in this run. */
  done: number;
  /** Uploaded completely in an earlier run. */
  skipped: number;
  /** Not every chunk acknowledged, or changed/deleted meanwhile. */
  problems: number;
  /** The files in progress, then the latest others, newest last. */
  recent: FileStatus[];
}

/** How an {@linkcode UploadScheduler} works. */
export interface UploadSchedulerOptions {
  /** Connects the producers (called again after an idle disconnect). */
  connect: () => Promise<ChunkProducer>;
  /** Seconds without work before the producers disconnect; default 30. */
  idleSeconds?: number;
  /** The watched folder (a file's `subdir_str` is its folder under it). */
  root: string;
  /** Bytes per chunk. */
  chunkSize: number;
  /** Files uploaded at the same time. */
  filesAtOnce: number;
  /** Shows a bar (or plain lines) per file in progress. */
  board: ProgressBoard;
  /** Where the scheduler's log lines go. */
  say: (level: LogLevel, message: string) => void;
  /** Seconds before a file with unacknowledged chunks is tried again; default 30. */
  retrySeconds?: number;
  /** Told of each file once Kafka has acknowledged all its chunks. */
  uploaded?: (
    file: SettledFile,
    totalChunks: number,
    positions?: PositionSummary,
  ) => Promise<void>;
}

/** How many finished or waiting files `status()` lists. */
const RECENT_FILES = 10;

/** Uploads settled files, a few at a time; see the module documentation. */
export class UploadScheduler {
  readonly #record: UploadRecord;
  readonly #options: UploadSchedulerOptions;
  /** Files waiting for their turn, oldest first, by relative path. */
  readonly #waiting = new Map<string, SettledFile>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #inProgress = new Map<string, FileStatus>();
  readonly #recent = new Map<string, FileStatus>();
  readonly #retries = new Set<ReturnType<typeof setTimeout>>();
  readonly #counts = { done: 0, skipped: 0, problems: 0 };
  /** Chunks Kafka acknowledged since the start, and their bytes (for heartbeats). */
  readonly sent: { chunks: number; bytes: number } = { chunks: 0, bytes: 0 };
  #stopping = false;
  #producer: Promise<ChunkProducer> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  /** Uploads into `record`'s memory, as `options` say. */
  constructor(record: UploadRecord, options: UploadSchedulerOptions) {
    this.#record = record;
    this.#options = options;
  }

  /**
   * Takes a settled file: skipped if this version was uploaded before, else
   * queued (a newer version replaces a waiting one).
   *
   * @example
   * ```ts
   * declare const scheduler: UploadScheduler;
   * scheduler.add({ path: "/data/a.bin", relativePath: "a.bin", size: 5, mtimeMs: 0 });
   * ```
   */
  add(file: SettledFile): void {
    if (this.#stopping) return;
    if (this.#record.isUploaded(file)) {
      this.#counts.skipped++;
      this.#remember(file.relativePath, "skipped", 0, 0);
      this.#options.say(
        "INFO",
        `${printableName(file.relativePath)} was uploaded before; skipped`,
      );
      return;
    }
    this.#record.noteWaiting(file);
    // A newer version takes the place of a waiting older one.
    this.#waiting.set(file.relativePath, file);
    this.#remember(file.relativePath, "waiting", 0, 0);
    this.#startNext();
  }

  /**
   * What was produced since the start, as OpenMSIStream's heartbeats count it.
   *
   * @example
   * ```ts
   * declare const scheduler: UploadScheduler;
   * scheduler.heartbeatCounts().n_files_produced; // files uploaded
   * ```
   */
  heartbeatCounts(): Record<
    "n_messages_produced" | "n_bytes_produced" | "n_files_produced",
    number
  > {
    return {
      n_messages_produced: this.sent.chunks,
      n_bytes_produced: this.sent.bytes,
      n_files_produced: this.status().done,
    };
  }

  /**
   * The counts and recent files, for `check`.
   *
   * @example
   * ```ts
   * declare const scheduler: UploadScheduler;
   * const { waiting, inProgress, done } = scheduler.status();
   * ```
   */
  status(): SchedulerStatus {
    const others = [...this.#recent.values()]
      .filter((file) => !this.#inProgress.has(file.relativePath))
      .slice(-RECENT_FILES);
    return {
      waiting: this.#waiting.size,
      inProgress: this.#inProgress.size,
      ...this.#counts,
      recent: [...this.#inProgress.values(), ...others],
    };
  }

  /**
   * Starts no more files, waits until those in progress are finished, and
   * disconnects. Returns how many waiting files were left.
   *
   * @example
   * ```ts
   * declare const scheduler: UploadScheduler;
   * const left = await scheduler.finish();
   * ```
   */
  async finish(): Promise<number> {
    this.#stopping = true;
    for (const timer of this.#retries) clearTimeout(timer);
    while (this.#running.size > 0) {
      await Promise.all(this.#running.values());
    }
    await this.#disconnect();
    return this.#waiting.size;
  }

  /** The connected producers, connecting them if needed. */
  #connected(): Promise<ChunkProducer> {
    clearTimeout(this.#idleTimer);
    if (this.#producer === undefined) {
      const connecting = this.#options.connect();
      this.#producer = connecting;
      // A failed connection is tried afresh next time.
      connecting.catch(() => {
        if (this.#producer === connecting) this.#producer = undefined;
      });
    }
    return this.#producer;
  }

  /** Disconnects once nothing has been to do for `idleSeconds`. */
  #disconnectWhenIdle(): void {
    if (this.#running.size > 0 || this.#waiting.size > 0) return;
    clearTimeout(this.#idleTimer);
    const idleMs = (this.#options.idleSeconds ?? 30) * 1000;
    this.#idleTimer = setTimeout(() => this.#disconnect(), idleMs);
  }

  /** Sends what is queued, then closes the producers' connections. */
  async #disconnect(): Promise<void> {
    clearTimeout(this.#idleTimer);
    const producer = this.#producer;
    this.#producer = undefined;
    await (await producer?.catch(() => undefined))?.close();
  }

  /** Starts waiting files while there is room (never two versions of one path). */
  #startNext(): void {
    while (!this.#stopping && this.#running.size < this.#options.filesAtOnce) {
      const file = this.#waiting.values().find((waiting) =>
        !this.#running.has(waiting.relativePath)
      );
      if (file === undefined) return;
      this.#waiting.delete(file.relativePath);
      const upload = this.#upload(file).finally(() => {
        this.#running.delete(file.relativePath);
        this.#startNext();
        this.#disconnectWhenIdle();
      });
      this.#running.set(file.relativePath, upload);
    }
  }

  /** Uploads one version and records how it went. */
  async #upload(file: SettledFile): Promise<void> {
    const { relativePath } = file;
    const status: FileStatus = {
      relativePath,
      state: "in progress",
      chunksAcknowledged: 0,
      totalChunks: 0,
    };
    this.#inProgress.set(relativePath, status);
    let version: StartedVersion | undefined;
    try {
      const producer = await this.#connected();
      const result = await uploadWithProgress(
        { path: file.path, subdir: subdirOf(this.#options.root, file.path) },
        producer,
        {
          chunkSize: this.#options.chunkSize,
          board: this.#options.board,
          label: printableName(relativePath),
          alreadyDelivered: (plan) => {
            if (plan.size !== file.size || plan.mtimeMs !== file.mtimeMs) {
              throw new FileChangedError(file.path, "after it settled");
            }
            version = this.#record.begin(file, plan);
            status.chunksAcknowledged = version.acknowledged.size;
            if (version.acknowledged.size > 0) {
              this.#options.say(
                "INFO",
                `resuming ${
                  printableName(relativePath)
                }: ${version.acknowledged.size} of ${plan.totalChunks} chunks were acknowledged before`,
              );
            }
            return version.acknowledged;
          },
          planned: (totalChunks) => status.totalChunks = totalChunks,
          acknowledged: (chunkIndex, bytes) => {
            this.#record.acknowledge(version!.id, chunkIndex);
            status.chunksAcknowledged++;
            this.sent.chunks++;
            this.sent.bytes += bytes;
          },
        },
      );
      if (result.failed > 0) {
        this.#retryLater(
          file,
          `${result.failed} chunk(s) were not acknowledged by Kafka (${
            describeError(result.error)
          })`,
        );
        status.state = "failed";
      } else {
        this.#record.finish(version!.id);
        await this.#options.uploaded?.(
          file,
          result.totalChunks,
          result.positions?.summary(),
        );
        this.#counts.done++;
        status.state = "done";
        this.#options.say(
          "INFO",
          `Uploaded ${
            printableName(relativePath)
          } (${result.totalChunks} chunk${
            result.totalChunks === 1 ? "" : "s"
          }, ${result.size} bytes)`,
        );
      }
    } catch (error) {
      if (error instanceof UserError && !(error instanceof FileChangedError)) {
        // Kafka cannot be reached: the file waits for the next try.
        status.state = "failed";
        this.#retryLater(file, error.message);
      } else {
        status.state = "not uploaded";
        await this.#reportUnreadable(file, error);
      }
    } finally {
      this.#inProgress.delete(relativePath);
      this.#remember(
        relativePath,
        status.state,
        status.chunksAcknowledged,
        status.totalChunks,
      );
    }
  }

  /** A file that changed, vanished or cannot be read: a warning, not a crash. */
  async #reportUnreadable(file: SettledFile, error: unknown): Promise<void> {
    const unreadable = error instanceof FileChangedError ||
      error instanceof Deno.errors.NotFound ||
      error instanceof Deno.errors.PermissionDenied;
    this.#counts.problems++;
    if (!unreadable) {
      // Anything else still must not end a run that lasts for weeks: one line.
      const why = `${describeError(error)}; not uploaded`;
      this.#options.say("ERROR", `${printableName(file.relativePath)}: ${why}`);
      return;
    }
    this.#record.forget(file);
    const why = !await fileExists(file.path)
      ? "it was deleted before its upload finished; not uploaded"
      : error instanceof FileChangedError
      ? "it changed during its upload; the new version is uploaded once it settles"
      : `it cannot be read (${describeError(error)}); not uploaded`;
    this.#options.say("WARNING", `${printableName(file.relativePath)}: ${why}`);
  }

  /** Kafka did not take every chunk, or could not be reached: try again later. */
  #retryLater(file: SettledFile, why: string): void {
    this.#counts.problems++;
    const seconds = this.#options.retrySeconds ?? 30;
    this.#options.say(
      "ERROR",
      `${
        printableName(file.relativePath)
      }: ${why}; trying again in ${seconds} s`,
    );
    const timer = setTimeout(() => {
      this.#retries.delete(timer);
      this.add(file);
    }, seconds * 1000);
    this.#retries.add(timer);
  }

  /** Keeps the latest states for `status()`, a bounded number of them. */
  #remember(
    relativePath: string,
    state: FileState,
    chunksAcknowledged: number,
    totalChunks: number,
  ): void {
    this.#recent.delete(relativePath);
    this.#recent.set(relativePath, {
      relativePath,
      state,
      chunksAcknowledged,
      totalChunks,
    });
    if (this.#recent.size > RECENT_FILES + this.#options.filesAtOnce) {
      this.#recent.delete(this.#recent.keys().next().value!);
    }
  }
}

/**
 * The lines `check` prints: the counts, then one line per file worth showing.
 * `settling` is how many files are still being written (the watcher knows).
 *
 * @example
 * ```ts
 * import type { FolderWatcher } from "./folder_watcher.ts";
 * declare const scheduler: UploadScheduler;
 * declare const watcher: FolderWatcher;
 * describeStatus(scheduler.status(), watcher.settling);
 * // ["2 waiting (1 still being written), 1 in progress, 5 done, 0 skipped (uploaded before), 0 with problems",
 * //  "  in progress: day1/big.bin (120/4096 chunks)", ...]
 * ```
 */
export function describeStatus(
  status: SchedulerStatus,
  settling: number,
): string[] {
  const lines = [
    `${
      status.waiting + settling
    } waiting (${settling} still being written), ${status.inProgress} in progress, ${status.done} done, ${status.skipped} skipped (uploaded before), ${status.problems} with problems`,
  ];
  for (const file of status.recent) {
    const chunks = file.totalChunks > 0
      ? ` (${file.chunksAcknowledged}/${file.totalChunks} chunks)`
      : "";
    lines.push(`  ${file.state}: ${printableName(file.relativePath)}${chunks}`);
  }
  return lines;
}

/**
 * The summary printed when the watcher stops: why, the files uploaded since
 * `startedAt` with their times, and how many waiting files are left.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 * import type { UploadRecord } from "./upload_record.ts";
 * declare const log: Logger;
 * declare const record: UploadRecord;
 * logUploadSummary(log, record, new Date(), 0, "quit");
 * ```
 */
export function logUploadSummary(
  log: Logger,
  record: UploadRecord,
  startedAt: Date,
  left: number,
  reason: string,
): void {
  log.info(`Stopped (${reason}).`);
  const uploaded = record.finishedSince(startedAt)
    .map((file) => ({ ...file, path: printableName(file.relativePath) }));
  logFileTimes(log, "uploaded", startedAt, uploaded);
  if (left > 0) {
    log.info(`${left} waiting file(s) are left for the next start.`);
  }
}
