/**
 * Putting files back together from their chunks, in any order, safely.
 *
 * Each chunk is written at its offset into a partial file kept in the working
 * folder's hidden state folder. When the last missing chunk arrives, the whole
 * partial file is hashed (as a stream, never all in memory) and compared with
 * the SHA-512 the sender computed. Only a match is moved into place, with one
 * atomic rename, so a reader never sees half a file. A mismatch is kept aside
 * in `rejected/` for inspection. Duplicated chunks change nothing.
 *
 * What is on disk is recorded in {@linkcode ReconstructState}, so a restarted
 * assembler continues where a killed one stopped.
 *
 * @example
 * ```ts
 * import { FileAssembler } from "./file_assembler.ts";
 *
 * const assembler = await FileAssembler.open("out/rebuilt");
 * const outcome = await assembler.accept(chunk); // chunk from decodeChunk()
 * if (outcome.kind === "reconstructed") console.log(outcome.relativePath);
 * assembler.close();
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join, relative, sep } from "node:path";
import {
  type FileChunk,
  InvalidChunkError,
  sameBytes,
  sha512,
  toHex,
} from "./chunk.ts";
import { describeError } from "../common/cli.ts";
import { ReconstructState } from "./reconstruct_state.ts";
import {
  assertRealPathInside,
  STATE_FOLDER,
  targetPath,
} from "./safe_paths.ts";

/** What happened to one accepted chunk. */
export type ChunkOutcome =
  | { kind: "written"; relativePath: string }
  | { kind: "duplicate"; relativePath: string }
  | {
    kind: "reconstructed";
    relativePath: string;
    startedAt: Date;
    finishedAt: Date;
  }
  | { kind: "rejected"; relativePath: string; keptAt: string; reason: string };

/** A file in progress: which chunks are on disk. */
interface PendingFile {
  key: string;
  relativePath: string;
  totalChunks: number;
  chunkSize: number;
  fileHash: Uint8Array;
  /** One bit per chunk: compact even for a file of a million chunks. */
  received: Uint8Array;
  count: number;
  startedAt: Date;
}

/** A file still being rebuilt, as `check` shows it. */
export interface FileProgress {
  relativePath: string;
  chunksOnDisk: number;
  totalChunks: number;
}

/** Open partial files kept at once; older ones are closed and reopened later. */
const MAX_OPEN_FILES = 32;

/** Rebuilds files inside one working folder. */
export class FileAssembler {
  readonly #root: string;
  readonly #state: ReconstructState;
  readonly #pending = new Map<string, PendingFile>();
  readonly #open = new Map<string, Deno.FsFile>();
  /** Chunks are handled one at a time, so two never race on one file. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(root: string, state: ReconstructState) {
    this.#root = root;
    this.#state = state;
  }

  /** Opens (creating if needed) the working folder and its saved state. */
  static async open(workingDir: string): Promise<FileAssembler> {
    await Deno.mkdir(join(workingDir, STATE_FOLDER, "partial"), {
      recursive: true,
    });
    await Deno.mkdir(join(workingDir, STATE_FOLDER, "rejected"), {
      recursive: true,
    });
    const root = await Deno.realPath(workingDir);
    const state = new ReconstructState(join(root, STATE_FOLDER, "state.db"));
    const assembler = new FileAssembler(root, state);
    for (const saved of state.pendingFiles()) {
      const file: PendingFile = {
        ...saved,
        received: new Uint8Array(Math.ceil(saved.totalChunks / 8)),
        count: 0,
        startedAt: new Date(saved.startedAt),
      };
      for (const i of saved.chunksOnDisk) markReceived(file, i);
      assembler.#pending.set(file.key, file);
    }
    return assembler;
  }

  /** Files started but not finished. */
  inProgress(): FileProgress[] {
    return [...this.#pending.values()].map((file) => ({
      relativePath: file.relativePath,
      chunksOnDisk: file.count,
      totalChunks: file.totalChunks,
    }));
  }

  /**
   * Writes one chunk and, if it was the last one missing, finishes the file.
   * Throws `UnsafePathError` or `InvalidChunkError` for a chunk to skip.
   */
  accept(chunk: FileChunk): Promise<ChunkOutcome> {
    const result = this.#queue.then(() => this.#accept(chunk));
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Closes open files and the state database. */
  close(): void {
    for (const file of this.#open.values()) file.close();
    this.#open.clear();
    this.#state.close();
  }

  async #accept(chunk: FileChunk): Promise<ChunkOutcome> {
    const path = targetPath(
      this.#root,
      chunk.subdir,
      chunk.filename,
      chunk.filenameAppend,
    );
    const relativePath = relative(this.#root, path).split(sep).join("/");
    const key = toHex(sha512(new TextEncoder().encode(
      [relativePath, toHex(chunk.fileHash)].join("\0"),
    ))).slice(0, 40);

    let file = this.#pending.get(key);
    if (!file) {
      const outcome = this.#state.outcome(key);
      // A version rebuilt before is skipped, unless its file was removed since:
      // reading the topic again then rebuilds it.
      if (outcome === "rejected" || (outcome && await exists(path))) {
        return { kind: "duplicate", relativePath };
      }
      if (outcome) this.#state.forget(key);
      file = this.#startFile(key, relativePath, chunk);
    }
    checkFits(file, chunk);
    if (isReceived(file, chunk.chunkIndex)) {
      return { kind: "duplicate", relativePath };
    }

    await this.#writeAt(key, chunk.offset, chunk.data);
    this.#state.addChunk(key, chunk.chunkIndex);
    markReceived(file, chunk.chunkIndex);
    if (file.count < file.totalChunks) return { kind: "written", relativePath };
    return await this.#finish(file, path, chunk.mtime);
  }

  #startFile(key: string, relativePath: string, chunk: FileChunk): PendingFile {
    const file: PendingFile = {
      key,
      relativePath,
      totalChunks: chunk.totalChunks,
      chunkSize: impliedChunkSize(chunk),
      fileHash: chunk.fileHash,
      received: new Uint8Array(Math.ceil(chunk.totalChunks / 8)),
      count: 0,
      startedAt: new Date(),
    };
    this.#state.addFile(file);
    this.#pending.set(key, file);
    return file;
  }

  #partialPath(key: string): string {
    return join(this.#root, STATE_FOLDER, "partial", `${key}.part`);
  }

  /** Writes bytes at an offset of a partial file. */
  async #writeAt(key: string, offset: number, data: Uint8Array): Promise<void> {
    let handle = this.#open.get(key);
    if (!handle) {
      if (this.#open.size >= MAX_OPEN_FILES) {
        const [oldestKey, oldest] = this.#open.entries().next().value!;
        oldest.close();
        this.#open.delete(oldestKey);
      }
      handle = await Deno.open(this.#partialPath(key), {
        write: true,
        create: true,
      });
      this.#open.set(key, handle);
    }
    await handle.seek(offset, Deno.SeekMode.Start);
    let written = 0;
    while (written < data.length) {
      written += await handle.write(data.subarray(written));
    }
  }

  /**
   * Verifies the whole file's hash, then moves it into place (with the
   * sender's modification time, when the message carried one) or aside.
   */
  async #finish(
    file: PendingFile,
    path: string,
    mtime?: number,
  ): Promise<ChunkOutcome> {
    this.#open.get(file.key)?.close();
    this.#open.delete(file.key);
    this.#pending.delete(file.key);
    const partial = this.#partialPath(file.key);
    const relativePath = file.relativePath;
    const done: ChunkOutcome = {
      kind: "reconstructed",
      relativePath,
      startedAt: file.startedAt,
      finishedAt: new Date(),
    };

    // Killed between the rename and the record: the file is already in place.
    if (!await exists(partial)) {
      if (
        await exists(path) && sameBytes(await hashFile(path), file.fileHash)
      ) {
        this.#state.finish(file.key, "reconstructed");
        return done;
      }
      return await this.#reject(file, partial, "its partial file is gone");
    }
    if (!sameBytes(await hashFile(partial), file.fileHash)) {
      return await this.#reject(file, partial, "it does not match its SHA-512");
    }
    try {
      await assertRealPathInside(this.#root, dirname(path));
      await Deno.mkdir(dirname(path), { recursive: true });
      await assertRealPathInside(this.#root, dirname(path));
      if (mtime !== undefined) {
        // Set before the rename, so the file appears with its time at once.
        await Deno.utime(
          partial,
          new Date(),
          new Date(Math.round(mtime * 1000)),
        );
      }
      await Deno.rename(partial, path);
    } catch (error) {
      // E.g. a folder where the file should go, or a file where a folder should.
      const why = `it cannot be moved into place (${describeError(error)})`;
      return await this.#reject(file, partial, why);
    }
    this.#state.finish(file.key, "reconstructed");
    return done;
  }

  /** Keeps a file that must not go into place in rejected/, for inspection. */
  async #reject(
    file: PendingFile,
    partial: string,
    reason: string,
  ): Promise<ChunkOutcome> {
    const keptAt = join(
      this.#root,
      STATE_FOLDER,
      "rejected",
      `${file.relativePath.replaceAll("/", "_")}.${file.key.slice(0, 8)}`,
    );
    await Deno.rename(partial, keptAt).catch(() => {});
    this.#state.finish(file.key, "rejected");
    return {
      kind: "rejected",
      relativePath: file.relativePath,
      keptAt,
      reason,
    };
  }

  /**
   * Finishes the files whose last chunk was written just before a crash
   * (killed while hashing or moving them). Call once after {@linkcode open}.
   */
  finishInterrupted(): Promise<ChunkOutcome[]> {
    const result = this.#queue.then(async () => {
      const outcomes: ChunkOutcome[] = [];
      for (const file of [...this.#pending.values()]) {
        if (file.count < file.totalChunks) continue;
        const path = join(this.#root, ...file.relativePath.split("/"));
        outcomes.push(await this.#finish(file, path));
      }
      return outcomes;
    });
    this.#queue = result.catch(() => {});
    return result;
  }
}

/** The chunk size a chunk implies: its length, or for the last, offset / (n - 1). */
function impliedChunkSize(chunk: FileChunk): number {
  if (chunk.totalChunks === 1) return chunk.data.length;
  if (chunk.chunkIndex < chunk.totalChunks) return chunk.data.length;
  return chunk.offset / (chunk.totalChunks - 1);
}

/** A chunk must agree with the earlier chunks of its file. */
function checkFits(file: PendingFile, chunk: FileChunk): void {
  if (
    chunk.totalChunks !== file.totalChunks ||
    (file.totalChunks > 1 && impliedChunkSize(chunk) !== file.chunkSize)
  ) {
    throw new InvalidChunkError(
      `chunk ${chunk.chunkIndex} of ${file.relativePath} does not match its other chunks (size or count)`,
    );
  }
}

function isReceived(file: PendingFile, index: number): boolean {
  return (file.received[(index - 1) >> 3] & (1 << ((index - 1) & 7))) !== 0;
}

function markReceived(file: PendingFile, index: number): void {
  if (isReceived(file, index)) return;
  file.received[(index - 1) >> 3] |= 1 << ((index - 1) & 7);
  file.count++;
}

/** Whether a file exists. */
function exists(path: string): Promise<boolean> {
  return Deno.stat(path).then(() => true, () => false);
}

/** SHA-512 of a file, read 1 MiB at a time. */
async function hashFile(path: string): Promise<Uint8Array> {
  const hash = createHash("sha512");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(1024 * 1024);
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return new Uint8Array(hash.digest());
}
