/**
 * Putting files back together from their chunks, in any order, safely.
 *
 * Each chunk is written at its offset into a partial file kept in the working
 * folder's hidden state folder, whose handle stays open while its chunks
 * arrive. While the chunks arrive in order, the whole file's SHA-512 is
 * computed as they are written; when the last missing chunk arrives, that
 * hash (or, for chunks that came out of order or before a restart, the hash
 * of the partial file read back as a stream, never all in memory) is
 * compared with the SHA-512 the sender computed. Only a match is moved into place, with one
 * atomic rename, so a reader never sees half a file. A mismatch is kept aside
 * in `rejected/` for inspection. Duplicated chunks change nothing.
 *
 * What is on disk is recorded in {@linkcode ReconstructState}, so a restarted
 * assembler continues where a killed one stopped.
 *
 * @example
 * ```ts
 * import { FileAssembler } from "./file_assembler.ts";
 * import type { FileChunk } from "./chunk.ts";
 * declare const chunk: FileChunk; // from decodeChunk()
 *
 * const assembler = await FileAssembler.open("out/rebuilt");
 * const outcome = await assembler.accept(chunk); // chunk from decodeChunk()
 * if (outcome.kind === "reconstructed") console.log(outcome.relativePath);
 * assembler.close();
 * ```
 *
 * @module
 */
import { writeAll } from "../common/write_all.ts";
import { createHash, type Hash } from "node:crypto";
import { dirname, join, relative, sep } from "node:path";
import {
  type FileChunk,
  InvalidChunkError,
  sameBytes,
  sha512,
  toHex,
} from "./chunk.ts";
import { describeError, UserError } from "../common/cli.ts";

export type { FileChunk };
import { statfsSync } from "node:fs";
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
  /**
   * One bit per chunk, in pages made only when a chunk of theirs arrives: a
   * message declaring 2^50 chunks costs one page, not 2^47 bytes.
   */
  received: Map<number, Uint8Array>;
  count: number;
  startedAt: Date;
  /**
   * The whole file's hash so far, while every chunk came in order (1, 2, ...);
   * undefined once one did not, or for a file carried over from a restart.
   */
  running?: Hash;
  /** The chunk `running` needs next. */
  nextInOrder: number;
}

/** Identities computed already, by the fields that make them (see `identify`). */
const IDENTITIES_KEPT = 1024;

/** Which file version a chunk belongs to. */
export interface FileIdentity {
  /** The version's key: the same for every chunk of it, in every WORKINGDIR. */
  key: string;
  /** Path under WORKINGDIR, POSIX style. */
  relativePath: string;
  /** Where the rebuilt file goes. */
  path: string;
}

/** A file still being rebuilt, as `check` shows it. */
export interface FileProgress {
  /** The version's key (see {@linkcode FileIdentity}). */
  key: string;
  /** Path under WORKINGDIR. */
  relativePath: string;
  /** Chunks written so far. */
  chunksOnDisk: number;
  /** Chunks in the file. */
  totalChunks: number;
}

/** A partial file's open handle, and where its next write would land. */
interface OpenPartial {
  handle: Deno.FsFile;
  /** The handle's position, -1 when unknown (a write failed midway). */
  position: number;
}

/** Open partial files kept at once; older ones are closed and reopened later. */
const MAX_OPEN_FILES = 32;

/** The largest file a message may announce, unless told otherwise: 64 GiB. */
export const DEFAULT_MAX_FILE_SIZE = 64 * 1024 ** 3;

/**
 * Files kept in `rejected/` for inspection; the oldest beyond this are
 * deleted, so hostile or broken senders cannot fill the disk with them.
 */
export const REJECTED_KEPT = 100;

/** Limits for {@linkcode FileAssembler.open}. */
export interface AssemblerOptions {
  /**
   * A file announced larger than this (bytes) is refused; so is one larger
   * than the free space. Default {@linkcode DEFAULT_MAX_FILE_SIZE}.
   */
  maxFileSize?: number;
}

/** Rebuilds files inside one working folder. */
export class FileAssembler {
  readonly #root: string;
  readonly #state: ReconstructState;
  readonly #pending = new Map<string, PendingFile>();
  readonly #open = new Map<string, OpenPartial>();
  readonly #identities = new Map<string, FileIdentity>();
  /** Chunks are handled one at a time, so two never race on one file. */
  #queue: Promise<unknown> = Promise.resolve();

  readonly #maxFileSize: number;
  /** Partial files of an earlier run that no record needed, removed at open. */
  strayPartialsRemoved = 0;

  private constructor(
    root: string,
    state: ReconstructState,
    maxFileSize: number,
  ) {
    this.#root = root;
    this.#state = state;
    this.#maxFileSize = maxFileSize;
  }

  /**
   * Opens (creating if needed) the working folder and its saved state, and
   * removes partial files that no unfinished file needs (left by a run that
   * died, e.g. on a full disk). A WORKINGDIR that is a file is a one-line
   * `UserError`.
   */
  static async open(
    workingDir: string,
    options: AssemblerOptions = {},
  ): Promise<FileAssembler> {
    const info = await Deno.stat(workingDir).catch(() => undefined);
    if (info && !info.isDirectory) {
      throw new UserError(`WORKINGDIR ${workingDir} is a file, not a folder`);
    }
    await Deno.mkdir(join(workingDir, STATE_FOLDER, "partial"), {
      recursive: true,
    });
    await Deno.mkdir(join(workingDir, STATE_FOLDER, "rejected"), {
      recursive: true,
    });
    const root = await Deno.realPath(workingDir);
    const state = new ReconstructState(join(root, STATE_FOLDER, "state.db"));
    const assembler = new FileAssembler(
      root,
      state,
      options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE,
    );
    for (const saved of state.pendingFiles()) {
      const file: PendingFile = {
        ...saved,
        received: new Map(),
        count: 0,
        startedAt: new Date(saved.startedAt),
        nextInOrder: 0,
      };
      for (const i of saved.chunksOnDisk) markReceived(file, i);
      assembler.#pending.set(file.key, file);
    }
    await assembler.#removeStrayPartials();
    return assembler;
  }

  /** Removes partial files that belong to no unfinished file. */
  async #removeStrayPartials(): Promise<void> {
    const folder = join(this.#root, STATE_FOLDER, "partial");
    for await (const entry of Deno.readDir(folder)) {
      const key = entry.name.replace(/\.part$/, "");
      if (this.#pending.get(key)?.count) continue;
      // Unfinished but with no chunk recorded: its bytes count for nothing.
      await Deno.remove(join(folder, entry.name));
      this.strayPartialsRemoved++;
    }
  }

  /** Files started but not finished. */
  inProgress(): FileProgress[] {
    return [...this.#pending.values()].map((file) => ({
      key: file.key,
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
    for (const open of this.#open.values()) open.handle.close();
    this.#open.clear();
    this.#state.close();
  }

  /**
   * The file version a chunk belongs to: its key (the same in every working
   * folder: path under WORKINGDIR and whole-file hash) and its path. Throws
   * `UnsafePathError` for a path outside WORKINGDIR.
   */
  identify(chunk: FileChunk): FileIdentity {
    // Computed once per file: the chunks of one file repeat these fields.
    const cacheKey = [
      chunk.subdir,
      chunk.filename,
      chunk.filenameAppend,
      String.fromCharCode(...chunk.fileHash),
    ].join("\0");
    const known = this.#identities.get(cacheKey);
    if (known) return known;
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
    if (this.#identities.size >= IDENTITIES_KEPT) this.#identities.clear();
    const identity = { key, relativePath, path };
    this.#identities.set(cacheKey, identity);
    return identity;
  }

  /** Commits the record of the chunks written so far (before a Kafka commit). */
  flush(): void {
    this.#state.flush();
  }

  /** Whether the file version `key` is started here and not finished. */
  isPending(key: string): boolean {
    return this.#pending.has(key);
  }

  /** Keys of the file versions started here and not finished. */
  pendingKeys(): string[] {
    return [...this.#pending.keys()];
  }

  /**
   * Drops an unfinished file: its partial file and its record go, so that
   * whoever reads its chunks next rebuilds it whole (a reconstructor that
   * lost the file's partition to another member of its group). `unless`
   * is asked in turn with the chunks, just before: true keeps the file.
   */
  abandon(key: string, unless?: () => boolean): Promise<string | undefined> {
    const result = this.#queue.then(async () => {
      const file = this.#pending.get(key);
      if (!file || unless?.()) return undefined;
      this.#open.get(key)?.handle.close();
      this.#open.delete(key);
      this.#pending.delete(key);
      await Deno.remove(this.#partialPath(key)).catch(() => {});
      this.#state.drop(key);
      return file.relativePath;
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  async #accept(chunk: FileChunk): Promise<ChunkOutcome> {
    const { key, relativePath, path } = this.identify(chunk);

    let file = this.#pending.get(key);
    if (!file) {
      const outcome = this.#state.outcome(key);
      // A version rebuilt before is skipped, unless its file was removed since:
      // reading the topic again then rebuilds it.
      if (outcome === "rejected" || (outcome && await exists(path))) {
        return { kind: "duplicate", relativePath };
      }
      if (outcome) this.#state.forget(key);
      this.#checkDeclaredSize(chunk, relativePath);
      file = this.#startFile(key, relativePath, chunk);
    }
    checkFits(file, chunk);
    if (isReceived(file, chunk.chunkIndex)) {
      return { kind: "duplicate", relativePath };
    }

    await this.#writeAt(key, chunk.offset, chunk.data);
    this.#state.addChunk(key, chunk.chunkIndex);
    markReceived(file, chunk.chunkIndex);
    if (file.running && chunk.chunkIndex === file.nextInOrder) {
      file.running.update(chunk.data);
      file.nextInOrder++;
    } else {
      file.running = undefined; // Out of order: read back at the end.
    }
    if (file.count < file.totalChunks) return { kind: "written", relativePath };
    return await this.#finish(file, path, chunk.mtime);
  }

  /**
   * Refuses a new file whose chunk announces more bytes than allowed or than
   * the disk has free: nothing is written or allocated for it.
   */
  #checkDeclaredSize(chunk: FileChunk, relativePath: string): void {
    const size = smallestDeclaredSize(chunk);
    const free = freeBytes(this.#root);
    if (size > this.#maxFileSize || size > free) {
      const limit = size > this.#maxFileSize
        ? `the limit of ${this.#maxFileSize} bytes (--max_file_size)`
        : `the ${free} bytes free on disk`;
      throw new InvalidChunkError(
        `${relativePath} announces at least ${size} bytes, more than ${limit}`,
      );
    }
  }

  #startFile(key: string, relativePath: string, chunk: FileChunk): PendingFile {
    const file: PendingFile = {
      key,
      relativePath,
      totalChunks: chunk.totalChunks,
      chunkSize: impliedChunkSize(chunk),
      fileHash: chunk.fileHash,
      received: new Map(),
      count: 0,
      startedAt: new Date(),
      running: createHash("sha512"),
      nextInOrder: 1,
    };
    this.#state.addFile(file);
    this.#pending.set(key, file);
    return file;
  }

  #partialPath(key: string): string {
    return join(this.#root, STATE_FOLDER, "partial", `${key}.part`);
  }

  /** Writes bytes at an offset of a partial file (seeking only when needed). */
  async #writeAt(key: string, offset: number, data: Uint8Array): Promise<void> {
    let open = this.#open.get(key);
    if (!open) {
      if (this.#open.size >= MAX_OPEN_FILES) {
        const [oldestKey, oldest] = this.#open.entries().next().value!;
        oldest.handle.close();
        this.#open.delete(oldestKey);
      }
      const handle = await Deno.open(this.#partialPath(key), {
        write: true,
        create: true,
      });
      open = { handle, position: 0 };
      this.#open.set(key, open);
    }
    const seek = open.position !== offset;
    open.position = -1; // Unknown until the seek and the write succeed.
    if (seek) await open.handle.seek(offset, Deno.SeekMode.Start);
    await writeAll(open.handle, data);
    open.position = offset + data.length;
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
    this.#open.get(file.key)?.handle.close();
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
    // Every chunk came in order: the running hash covers the whole file.
    const hash = file.running && file.nextInOrder > file.totalChunks
      ? new Uint8Array(file.running.digest())
      : await hashFile(partial);
    file.running = undefined;
    if (!sameBytes(hash, file.fileHash)) {
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
    await pruneOldest(dirname(keptAt), REJECTED_KEPT);
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

/** Chunks per page of the received bitmap (8 KiB of bits). */
const PAGE_CHUNKS = 65536;

function isReceived(file: PendingFile, index: number): boolean {
  const page = file.received.get(Math.floor((index - 1) / PAGE_CHUNKS));
  const bit = (index - 1) % PAGE_CHUNKS;
  return page !== undefined && (page[bit >> 3] & (1 << (bit & 7))) !== 0;
}

function markReceived(file: PendingFile, index: number): void {
  if (isReceived(file, index)) return;
  const pageNumber = Math.floor((index - 1) / PAGE_CHUNKS);
  let page = file.received.get(pageNumber);
  if (!page) {
    page = new Uint8Array(PAGE_CHUNKS / 8);
    file.received.set(pageNumber, page);
  }
  const bit = (index - 1) % PAGE_CHUNKS;
  page[bit >> 3] |= 1 << (bit & 7);
  file.count++;
}

/**
 * The fewest bytes the file of `chunk` can have: exact for its last chunk,
 * else all chunks before the last full, plus one byte.
 */
function smallestDeclaredSize(chunk: FileChunk): number {
  if (chunk.chunkIndex === chunk.totalChunks) {
    return chunk.offset + chunk.data.length;
  }
  return (chunk.totalChunks - 1) * chunk.data.length + 1;
}

/** Bytes free for an unprivileged user on the disk of `path`. */
function freeBytes(path: string): number {
  try {
    const stats = statfsSync(path);
    return Number(stats.bavail) * Number(stats.bsize);
  } catch {
    return Number.POSITIVE_INFINITY; // Unknown: the size limit still holds.
  }
}

/** Deletes the oldest files of `folder` beyond the newest `keep`. */
async function pruneOldest(folder: string, keep: number): Promise<void> {
  const files: { path: string; mtime: number }[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (!entry.isFile) continue;
    const path = join(folder, entry.name);
    const info = await Deno.stat(path).catch(() => undefined);
    if (info) files.push({ path, mtime: info.mtime?.getTime() ?? 0 });
  }
  files.sort((a, b) => b.mtime - a.mtime);
  for (const old of files.slice(keep)) {
    await Deno.remove(old.path).catch(() => {});
  }
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
