/**
 * Putting files back together from their chunks, in any order, safely.
 *
 * Each chunk is written at its offset into a partial file kept in the working
 * folder's hidden state folder, whose handle stays open while its chunks
 * arrive. While the chunks arrive in order, the whole file's SHA-512 is
 * computed as they are written; for a big file (16 MiB or more), a worker on
 * a second core reads back and hashes its partial file as the part written
 * without gaps grows, whatever the order the chunks come in. When the last
 * missing chunk arrives, that hash (or, for chunks of a small file that came
 * out of order or before a restart, the hash of the partial file read back as
 * a stream, never all in memory) is compared with the SHA-512 the sender
 * computed. Only a match is moved into place, with one
 * atomic rename, so a reader never sees half a file.
 *
 * A chunk's own SHA-512 is not checked before it is written (hashing every
 * byte twice was a third of the rebuild's time; a file of one chunk is still
 * checked first); it is recorded, and checked where that can change
 * something. A chunk read again while its file is in
 * progress is checked, and so is the copy on disk: a copy that matches its
 * hash replaces one that does not. A file whose whole hash does not match is
 * read back chunk by chunk: chunks that do not match their hash are missing
 * again, and the file waits for another copy of them; if every chunk
 * matches, the file itself is wrong and is kept aside in `rejected/` for
 * inspection. Other duplicated chunks change nothing.
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
import { createHash } from "node:crypto";
import { join } from "node:path";
import { checkChunkHash, type FileChunk, sameBytes, sha512 } from "./chunk.ts";
import { describeError, UserError } from "../common/cli.ts";

export type { FileChunk, FileIdentity };
import {
  bytesToCome,
  checkDeclaredSize,
  checkFits,
  type FileInAssembly,
  impliedChunkSize,
  isReceived,
  markReceived,
  unmarkReceived,
} from "./file_in_assembly.ts";
import { FileIdentities, type FileIdentity } from "./file_identity.ts";
import {
  exists,
  existsSync,
  keepRejected,
  moveIntoPlace,
} from "./file_placement.ts";
import {
  hashFile,
  PartialFiles,
  PartialHashes,
  readChunks,
} from "./partial_files.ts";
import { ReconstructState } from "./reconstruct_state.ts";
import {
  STAGED_CHUNK_BYTES,
  StagedWrites,
  type WrittenChunk,
} from "./staged_writes.ts";
import { STATE_FOLDER } from "./safe_paths.ts";

/** What happened to one accepted chunk. */
export type ChunkOutcome =
  | { kind: "written"; relativePath: string }
  | { kind: "duplicate"; relativePath: string }
  /** A chunk on disk did not match its hash; this copy, which does, replaced it. */
  | { kind: "repaired"; relativePath: string; chunkIndex: number }
  /**
   * The last chunk came but the file does not match its hash: these chunks
   * do not match theirs, and the file waits for another copy of them.
   */
  | { kind: "damaged"; relativePath: string; chunks: number[] }
  | {
    kind: "reconstructed";
    relativePath: string;
    startedAt: Date;
    finishedAt: Date;
  }
  | {
    kind: "rejected";
    relativePath: string;
    /** Where it is kept for inspection; undefined when it could not be kept. */
    keptAt?: string;
    /** Why it is not in place (and why not kept, if it was not). */
    reason: string;
  }
  /** A later chunk of a file refused for its size (said once, at its first). */
  | { kind: "refused"; relativePath: string };

/**
 * A file whose hash matched, not yet moved into place: `place` moves it (or
 * aside, if it cannot go there). See {@linkcode FileAssembler.acceptUnplaced}.
 */
export interface UnplacedFile {
  /** Complete and verified. */
  kind: "verified";
  /** Path under WORKINGDIR. */
  relativePath: string;
  /** Moves the file into place, in turn with the chunks; call once. */
  place: () => Promise<ChunkOutcome>;
}

/** A file whose hash matched, waiting to be moved into place. */
interface Verified {
  kind: "verified";
  file: FileInAssembly;
  path: string;
  mtime?: number;
  done: ChunkOutcome;
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

/**
 * Files announcing at least this many bytes are hashed on a second core
 * while their chunks arrive (see {@linkcode PartialHashes}); smaller ones
 * here, as their chunks are written in order, else read back at the end.
 */
const BACKGROUND_HASH_BYTES = 16 * 1024 * 1024;
/** The worker is told of a file's new bytes on disk at most every this many. */
const BACKGROUND_HASH_STEP = 4 * 1024 * 1024;

/** The largest file a message may announce, unless told otherwise: 64 GiB. */
export const DEFAULT_MAX_FILE_SIZE = 64 * 1024 ** 3;

/**
 * The disk of the working folder filled up while a chunk or its record was
 * written: the run must stop. What is on disk and recorded stays; Kafka's
 * commits never passed the rest, so a restart reads it again.
 */
export class DiskFullError extends UserError {
  /** Says which folder's disk is full, and what the system said. */
  constructor(root: string, cause: unknown) {
    super(
      `the disk of ${root} is full (${
        describeError(cause)
      }); the chunks written so far are kept`,
    );
    this.name = "DiskFullError";
  }
}

/**
 * Whether `error` says the disk is full: ENOSPC (os error 28), a disk quota
 * (os error 122), or SQLite's "database or disk is full".
 *
 * @example
 * ```ts
 * isDiskFull(new Error("database or disk is full")); // true
 * ```
 */
export function isDiskFull(error: unknown): boolean {
  return error instanceof Error &&
    /\(os error (28|122)\)|database or disk is full/.test(error.message);
}

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
  readonly #pending = new Map<string, FileInAssembly>();
  readonly #partials: PartialFiles;
  /** A big file's small chunks, gathered into bigger writes (staged_writes.ts). */
  readonly #staged: StagedWrites;
  readonly #hashes = new PartialHashes();
  readonly #identities: FileIdentities;
  /** Files verified and waiting to be moved into place: their chunks are duplicates. */
  readonly #unplaced = new Set<string>();
  /** Files refused for their size: chunks seen, until all have gone by. */
  readonly #refused = new Map<string, number>();
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
    this.#partials = new PartialFiles(join(root, STATE_FOLDER, "partial"));
    this.#staged = new StagedWrites(
      this.#partials,
      (key, chunks) => this.#chunksWritten(key, chunks),
    );
    this.#identities = new FileIdentities(root);
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
      const file: FileInAssembly = {
        ...saved,
        received: new Map(),
        count: 0,
        startedAt: new Date(saved.startedAt),
        nextInOrder: 0,
      };
      assembler.#hashInBackground(file);
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
   * Writes one chunk and, if it was the last one missing, finishes the file
   * (`beforePlace` is awaited once its hash matched, just before it is moved
   * into place). Throws `UnsafePathError` or `InvalidChunkError` for a
   * chunk to skip.
   */
  async accept(
    chunk: FileChunk,
    beforePlace?: () => Promise<void>,
  ): Promise<ChunkOutcome> {
    const step = this.#inTurn(() =>
      this.#accept(chunk, beforePlace !== undefined)
    );
    const first = await step;
    if (first.kind !== "verified") return first;
    // Outside the queue: other files' chunks go on meanwhile.
    try {
      await beforePlace!();
    } catch (error) {
      this.#unplaced.delete(first.file.key);
      throw error;
    }
    return await this.#placeInTurn(first);
  }

  /** Moves a verified file into place, in turn with the chunks. */
  #placeInTurn(verified: Verified): Promise<ChunkOutcome> {
    return this.#inTurn(async () => {
      try {
        return await this.#place(verified);
      } finally {
        this.#unplaced.delete(verified.file.key);
      }
    });
  }

  /**
   * Like {@linkcode accept}, but a file whose last chunk this was and whose
   * hash matched is not moved into place: it comes back as an
   * {@linkcode UnplacedFile}, whose `place` the caller calls later (after
   * the group's commit naming it finished, say). Until then its chunks are
   * duplicates; killed before, the next start moves it in
   * ({@linkcode finishInterrupted}).
   */
  async acceptUnplaced(chunk: FileChunk): Promise<ChunkOutcome | UnplacedFile> {
    const first = await this.#inTurn(() => this.#accept(chunk, true));
    if (first.kind !== "verified") return first;
    return {
      kind: "verified",
      relativePath: first.file.relativePath,
      place: () => this.#placeInTurn(first),
    };
  }

  /** Runs `work` after the chunks queued before it, one at a time. */
  #inTurn<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work).catch((error) => {
      throw this.#diskFullAsError(error);
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  /**
   * Closes open files and the state database, with every chunk accepted so
   * far on disk and recorded.
   */
  close(): void {
    this.#hashes.close();
    this.#staged.closeNow();
    this.#partials.closeAll();
    this.#state.close();
  }

  /**
   * The file version a chunk belongs to: its key (the same in every working
   * folder: path under WORKINGDIR and whole-file hash) and its path. Throws
   * `UnsafePathError` for a path outside WORKINGDIR.
   */
  identify(chunk: FileChunk): FileIdentity {
    return this.#identities.identify(chunk);
  }

  /**
   * Commits the record of the chunks written so far (before a Kafka commit).
   * Throws {@linkcode DiskFullError} if the disk is full.
   */
  flush(): void {
    try {
      this.#state.flush();
    } catch (error) {
      throw this.#diskFullAsError(error);
    }
  }

  /** A full disk as a {@linkcode DiskFullError}; other errors as they are. */
  #diskFullAsError(error: unknown): unknown {
    return isDiskFull(error) ? new DiskFullError(this.#root, error) : error;
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
      // Its chunks in flight land (and are recorded) before it all goes.
      await this.#staged.settle(key).catch(() => {});
      this.#partials.close(key);
      this.#hashes.drop(key);
      this.#pending.delete(key);
      await Deno.remove(this.#partials.path(key)).catch(() => {});
      this.#state.drop(key);
      return file.relativePath;
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  async #accept(
    chunk: FileChunk,
    verifyOnly: boolean,
  ): Promise<ChunkOutcome | Verified> {
    const { key, relativePath, path } = this.identify(chunk);
    // A file of one chunk is checked first, as always: a damaged one is
    // skipped with a warning, not started as a file waiting for another copy.
    if (chunk.totalChunks === 1) checkChunkHash(chunk);

    let file = this.#pending.get(key);
    if (!file && this.#unplaced.has(key)) {
      return { kind: "duplicate", relativePath };
    }
    if (!file) {
      const outcome = this.#state.outcome(key);
      // A version rebuilt before is skipped, unless its file was removed since:
      // reading the topic again then rebuilds it.
      if (outcome === "rejected" || (outcome && await exists(path))) {
        return { kind: "duplicate", relativePath };
      }
      if (this.#refused.has(key)) {
        return this.#refusedAgain(key, relativePath, chunk);
      }
      if (outcome) this.#state.forget(key);
      this.#checkSize(key, relativePath, chunk);
      file = this.#startFile(key, relativePath, chunk);
    }
    checkFits(file, chunk);
    if (isReceived(file, chunk.chunkIndex)) {
      return await this.#again(file, chunk);
    }

    if (
      file.hashedTo !== undefined && chunk.data.length <= STAGED_CHUNK_BYTES
    ) {
      // A big file's small chunk: gathered into a bigger write, and recorded
      // (and hashed) once that is on disk, in #chunksWritten.
      await this.#staged.stage(key, {
        index: chunk.chunkIndex,
        offset: chunk.offset,
        data: chunk.data,
        hash: chunk.chunkHash,
      });
      markReceived(file, chunk.chunkIndex);
    } else {
      await this.#partials.writeAt(key, chunk.offset, chunk.data);
      this.#state.addChunk(key, chunk.chunkIndex, chunk.chunkHash);
      markReceived(file, chunk.chunkIndex);
      this.#hashWritten(file, chunk);
    }
    if (file.count < file.totalChunks) return { kind: "written", relativePath };
    // A file of one chunk: its hash, checked above, is the file's.
    const checked = file.totalChunks === 1 ? chunk.chunkHash : undefined;
    return await this.#finish(file, path, chunk.mtime, verifyOnly, checked);
  }

  /**
   * A chunk already on disk, read again (a restarted run re-reads a few; a
   * sender may send one twice). Checked, with the copy on disk: a copy that
   * does not match its hash is replaced by this one, which does; a bad
   * one throws `InvalidChunkError` (skipped, with a warning).
   */
  async #again(file: FileInAssembly, chunk: FileChunk): Promise<ChunkOutcome> {
    const { key, relativePath } = file;
    // The first copy may still be gathered, not yet on disk or recorded.
    await this.#staged.settle(key);
    const recorded = this.#state.chunkHash(key, chunk.chunkIndex);
    // Recorded by an older version, which checked chunks before writing them.
    if (recorded === null) return { kind: "duplicate", relativePath };
    checkChunkHash(chunk);
    const onDisk = this.#partials.readAt(
      key,
      chunk.offset,
      chunk.data.length,
    );
    const same = sameBytes(onDisk, chunk.data);
    if (same || (recorded && sameBytes(sha512(onDisk), recorded))) {
      // Good bytes on disk, kept. If they are this copy's, its hash (which
      // matches them) is recorded: the first copy may have declared another.
      if (same && !(recorded && sameBytes(recorded, chunk.chunkHash))) {
        this.#state.addChunk(key, chunk.chunkIndex, chunk.chunkHash);
      }
      return { kind: "duplicate", relativePath };
    }
    await this.#partials.writeAt(key, chunk.offset, chunk.data);
    this.#state.addChunk(key, chunk.chunkIndex, chunk.chunkHash);
    this.#hashAtEnd(file);
    return { kind: "repaired", relativePath, chunkIndex: chunk.chunkIndex };
  }

  /** Bytes already hashed changed: the file is read back and hashed at its end. */
  #hashAtEnd(file: FileInAssembly): void {
    file.running = undefined;
    if (file.hashedTo !== undefined) this.#hashes.drop(file.key);
    file.hashedTo = undefined;
  }

  /**
   * Brings the whole file's hash up to date with a chunk just written: on
   * this thread while its chunks come in order (else it is read back at the
   * end), or for a big file, on the worker up to the first chunk missing.
   */
  #hashWritten(file: FileInAssembly, chunk: FileChunk): void {
    if (file.hashedTo !== undefined) this.#hashOnDisk(file);
    else if (file.running && chunk.chunkIndex === file.nextInOrder) {
      file.running.update(chunk.data);
      file.nextInOrder++;
    } else {
      file.running = undefined; // Out of order: read back at the end.
    }
  }

  /**
   * Has the worker hash a big file up to its first chunk not on disk: not
   * received yet, or gathered and not yet written (staged_writes.ts).
   */
  #hashOnDisk(file: FileInAssembly): void {
    if (file.hashedTo === undefined) return;
    const unwritten = this.#staged.firstUnwritten(file.key);
    while (
      file.nextInOrder <= file.totalChunks &&
      file.nextInOrder < unwritten &&
      isReceived(file, file.nextInOrder)
    ) file.nextInOrder++;
    // Every chunk on disk: to the end (the last chunk's size may be unknown).
    const upTo = file.nextInOrder > file.totalChunks
      ? -1
      : (file.nextInOrder - 1) * file.chunkSize;
    if (upTo < 0 || upTo - file.hashedTo >= BACKGROUND_HASH_STEP) {
      this.#hashes.hashTo(file.key, this.#partials.path(file.key), upTo);
      file.hashedTo = upTo < 0 ? Infinity : upTo;
    }
  }

  /**
   * Gathered chunks of `key` reached disk: recorded now, and its worker
   * hashes that far.
   */
  #chunksWritten(key: string, chunks: WrittenChunk[]): void {
    this.#state.addChunks(key, chunks);
    const file = this.#pending.get(key);
    if (file) this.#hashOnDisk(file);
  }

  /** A big file is hashed on the worker, from its start, when one can run. */
  #hashInBackground(file: FileInAssembly): void {
    if (
      file.totalChunks * file.chunkSize < BACKGROUND_HASH_BYTES ||
      !this.#hashes.available
    ) return;
    file.running = undefined;
    file.hashedTo = 0;
    file.nextInOrder = 1;
  }

  /**
   * Refuses a new file too big for the limit or for the free disk (what the
   * files in progress still need set aside), before anything is written.
   */
  #checkSize(key: string, relativePath: string, chunk: FileChunk): void {
    let reserved = 0;
    for (const file of this.#pending.values()) reserved += bytesToCome(file);
    try {
      checkDeclaredSize(
        chunk,
        relativePath,
        this.#root,
        this.#maxFileSize,
        reserved,
      );
    } catch (error) {
      // Its other chunks are skipped without a word: one warning per file.
      if (chunk.totalChunks > 1) this.#refused.set(key, 1);
      throw error;
    }
  }

  /**
   * A later chunk of a refused file; once as many went by as it has (in any
   * order), a resend is checked anew.
   */
  #refusedAgain(
    key: string,
    relativePath: string,
    chunk: FileChunk,
  ): ChunkOutcome {
    const seen = (this.#refused.get(key) ?? 0) + 1;
    if (seen >= chunk.totalChunks) this.#refused.delete(key);
    else this.#refused.set(key, seen);
    return { kind: "refused", relativePath };
  }

  #startFile(
    key: string,
    relativePath: string,
    chunk: FileChunk,
  ): FileInAssembly {
    const file: FileInAssembly = {
      key,
      relativePath,
      totalChunks: chunk.totalChunks,
      chunkSize: impliedChunkSize(chunk),
      // Its own bytes (decodeChunk copies it out of the message).
      fileHash: chunk.fileHash,
      mtime: chunk.mtime,
      received: new Map(),
      count: 0,
      startedAt: new Date(),
      // A file of one chunk needs none: its chunk's hash is checked.
      running: chunk.totalChunks > 1 ? createHash("sha512") : undefined,
      nextInOrder: 1,
    };
    this.#hashInBackground(file);
    this.#state.addFile(file);
    this.#pending.set(key, file);
    return file;
  }

  /**
   * Verifies the whole file's hash, then moves it into place (with the
   * sender's modification time, when the message carried one) or aside;
   * with `verifyOnly`, a good file is left for {@linkcode #place}.
   * `checkedHash` is the file's hash when it is already known (the checked
   * hash of a file's only chunk).
   */
  async #finish(
    file: FileInAssembly,
    path: string,
    mtime?: number,
    verifyOnly = false,
    checkedHash?: Uint8Array,
  ): Promise<ChunkOutcome | Verified> {
    await this.#staged.settle(file.key);
    this.#partials.close(file.key);
    this.#pending.delete(file.key);
    const partial = this.#partials.path(file.key);
    const relativePath = file.relativePath;
    const done: ChunkOutcome = {
      kind: "reconstructed",
      relativePath,
      startedAt: file.startedAt,
      finishedAt: new Date(),
    };

    // Killed between the rename and the record: the file is already in place.
    if (!existsSync(partial)) {
      this.#hashes.drop(file.key);
      if (
        await exists(path) && sameBytes(await hashFile(path), file.fileHash)
      ) {
        this.#state.finish(file.key, "reconstructed");
        return done;
      }
      return await this.#reject(file, partial, "its partial file is gone");
    }
    const hash = checkedHash ?? await this.#wholeHash(file, partial);
    file.running = undefined;
    file.hashedTo = undefined;
    if (!sameBytes(hash, file.fileHash)) {
      const damaged = await this.#damagedChunks(file, partial);
      if (damaged.length > 0) return this.#awaitAgain(file, damaged);
      return await this.#reject(file, partial, "it does not match its SHA-512");
    }
    const verified: Verified = { kind: "verified", file, path, mtime, done };
    if (verifyOnly) this.#unplaced.add(file.key);
    // E.g. the group's commit naming the file finished comes first: killed
    // after it, the next start moves the complete file in (finishInterrupted).
    return verifyOnly ? verified : await this.#place(verified);
  }

  /**
   * A complete file's SHA-512: the running hash when every chunk came in
   * order, else the worker's (a big file), else its partial file read back.
   */
  async #wholeHash(file: FileInAssembly, partial: string): Promise<Uint8Array> {
    if (file.running && file.nextInOrder > file.totalChunks) {
      return new Uint8Array(file.running.digest());
    }
    const kept = file.hashedTo !== undefined &&
      await this.#hashes.digest(file.key, partial);
    return kept || await hashFile(partial);
  }

  /** The chunks on disk that do not match the SHA-512 recorded for them. */
  async #damagedChunks(
    file: FileInAssembly,
    partial: string,
  ): Promise<number[]> {
    const damaged: number[] = [];
    let read = 0;
    for await (const bytes of readChunks(partial, file.chunkSize)) {
      if (++read > file.totalChunks) break;
      const recorded = this.#state.chunkHash(file.key, read);
      // null: checked before it was written (a record of an older version).
      if (recorded === null) continue;
      if (!recorded || !sameBytes(sha512(bytes), recorded)) damaged.push(read);
    }
    // A partial file cut short (by hand) lacks its last chunks.
    for (let index = read + 1; index <= file.totalChunks; index++) {
      damaged.push(index);
    }
    return damaged;
  }

  /** Damaged chunks are missing again: the file waits for other copies. */
  #awaitAgain(file: FileInAssembly, damaged: number[]): ChunkOutcome {
    for (const index of damaged) {
      unmarkReceived(file, index);
      this.#state.dropChunk(file.key, index);
    }
    this.#pending.set(file.key, file);
    return {
      kind: "damaged",
      relativePath: file.relativePath,
      chunks: damaged,
    };
  }

  /** Moves a verified file into place, or aside when it cannot go there. */
  async #place(verified: Verified): Promise<ChunkOutcome> {
    const { file, path, mtime, done } = verified;
    const partial = this.#partials.path(file.key);
    try {
      moveIntoPlace(this.#root, partial, path, mtime);
    } catch (error) {
      // A full disk stops the run; the restart moves the file into place.
      if (isDiskFull(error)) throw error;
      // E.g. a folder where the file should go, or a file where a folder should.
      const why = `it cannot be moved into place (${describeError(error)})`;
      return await this.#reject(file, partial, why);
    }
    this.#state.finish(file.key, "reconstructed");
    return done;
  }

  /** Keeps a file that must not go into place in rejected/, for inspection. */
  async #reject(
    file: FileInAssembly,
    partial: string,
    reason: string,
  ): Promise<ChunkOutcome> {
    let keptAt: string | undefined;
    try {
      keptAt = await keepRejected(
        join(this.#root, STATE_FOLDER, "rejected"),
        file.relativePath,
        file.key,
        partial,
      );
    } catch (error) {
      // Not kept, so not left half-tracked either: its partial goes.
      await Deno.remove(partial).catch(() => {});
      reason += `; it could not be kept either (${
        describeError(error)
      }), so it was removed`;
    }
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
        outcomes.push(
          await this.#finish(file, path, file.mtime) as ChunkOutcome,
        );
      }
      return outcomes;
    }).catch((error) => {
      throw this.#diskFullAsError(error);
    });
    this.#queue = result.catch(() => {});
    return result;
  }
}
