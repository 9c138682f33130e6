/**
 * Splitting a file into fixed-size chunks, with a SHA-512 for each chunk and
 * for the whole file, without ever holding the whole file in memory.
 *
 * Uploading takes two passes over the file, and hashes each byte twice (once
 * for the whole file, once for its chunk), as the message format demands.
 * {@linkcode planChunks} reads it once to hash it (a big file's whole hash on
 * a second core, in file_hash_worker.ts, while this thread hashes its
 * chunks). {@linkcode readPlannedChunks} reads it again to send it, without
 * hashing: if the file's size or modification time changed in between, or a
 * read comes up short, the upload stops with {@linkcode FileChangedError}
 * instead of sending a mix of old and new bytes. (The reconstructor checks every chunk's hash and the file's, so
 * a change that keeps both is still never rebuilt.)
 *
 * @example
 * ```ts
 * import { planChunks, readPlannedChunks } from "./file_chunks.ts";
 *
 * const plan = await planChunks("data/big.bin", 16384);
 * for await (const chunk of readPlannedChunks(plan)) {
 *   console.log(chunk.index, chunk.offset, chunk.data.length);
 * }
 * ```
 *
 * @module
 */
import { printableName } from "../common/printable.ts";
import { createHash } from "node:crypto";
import { UserError } from "../common/cli.ts";
import { mtimeSeconds } from "./file_times.ts";
import { readFull } from "../common/read_full.ts";

/** What the first pass learned about a file. */
export interface ChunkPlan {
  /** The file, as given on the command line. */
  path: string;
  /** Its size in bytes when hashed. */
  size: number;
  /** Modification time when hashed, in ms since the epoch. */
  mtimeMs: number;
  /** The same time in seconds, to the microsecond where it can be read (see file_times.ts). */
  mtimeSeconds: number;
  /** Bytes in every chunk but the last. */
  chunkSize: number;
  /** An empty file still has one (empty) chunk, so that it is rebuilt too. */
  totalChunks: number;
  /** SHA-512 of the whole file. */
  fileHash: Uint8Array;
  /** All chunk hashes back to back, 64 bytes each (compact for big files). */
  chunkHashes: Uint8Array;
}

/** One chunk read for sending, with its hash from the plan. */
export interface PlannedChunk {
  /** 1-based, as in the message format. */
  index: number;
  /** Where the chunk starts in the file, in bytes. */
  offset: number;
  /** The chunk's bytes; valid only until the next chunk is read. */
  data: Uint8Array;
  /** SHA-512 of `data`, as the first pass found it. */
  hash: Uint8Array;
}

/** The file changed (or vanished) between hashing and sending. */
export class FileChangedError extends UserError {
  /** `path` changed; `detail` says how (size, time, gone). */
  constructor(path: string, detail: string) {
    super(
      `${printableName(path)} changed while it was being uploaded (${detail})`,
    );
    this.name = "FileChangedError";
  }
}

const HASH_BYTES = 64;

/**
 * Bytes read from the file at once (rounded down to whole chunks): large
 * reads keep the per-chunk cost of small chunks low.
 */
export const READ_BYTES = 1024 * 1024;

/**
 * How many chunks a file of `size` bytes has.
 *
 * @example
 * ```ts
 * countChunks(0, 16384); // 1
 * countChunks(16385, 16384); // 2
 * ```
 */
export function countChunks(size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize));
}

/**
 * First pass: hashes the file and each of its chunks, reading it in blocks of
 * {@linkcode READ_BYTES} split into chunks in memory. `onBytes` is told how
 * many bytes have been read so far. A file that is gone, or whose size or
 * modification time changes meanwhile, throws {@linkcode FileChangedError}.
 *
 * @example
 * ```ts
 * const plan = await planChunks("data/run.bin", 16384);
 * ```
 */
export async function planChunks(
  path: string,
  chunkSize: number,
  onBytes: (bytesRead: number) => void = () => {},
): Promise<ChunkPlan> {
  using file = await openOrChanged(path);
  const info = await file.stat();
  const mtimeMs = info.mtime?.getTime() ?? 0;
  const totalChunks = countChunks(info.size, chunkSize);
  const chunkHashes = new Uint8Array(totalChunks * HASH_BYTES);
  const blockSize = blockBytes(chunkSize);
  // A big file's whole hash is kept on a second core, a small one's here
  // (also when this program may not read the worker's module).
  await using fileHash = info.size >= PARALLEL_HASH_BYTES && mayStartWorker()
    ? new WorkerFileHash(blockSize)
    : new LocalFileHash(blockSize);
  let size = 0;
  let index = 0;
  const plan: ChunkHashing = { chunkSize, totalChunks, chunkHashes };
  let block = await fileHash.freeBlock();
  while (index < totalChunks) {
    const length = await readFull(file, block);
    index = await hashChunks(block.subarray(0, length), index, plan);
    fileHash.update(block, length);
    size += length;
    onBytes(size);
    block = await fileHash.freeBlock();
    if (length < block.length) break;
  }
  const after = await file.stat();
  if (
    size !== info.size || index !== totalChunks ||
    await readFull(file, block.subarray(0, 1)) !== 0 ||
    !sameVersion(after, info.size, mtimeMs)
  ) {
    throw new FileChangedError(path, "it changed while hashing");
  }
  return {
    path,
    size,
    mtimeMs,
    mtimeSeconds: await mtimeSeconds(path, mtimeMs),
    chunkSize,
    totalChunks,
    fileHash: await fileHash.digest(),
    chunkHashes,
  };
}

/** What {@linkcode hashChunks} needs of a plan. */
interface ChunkHashing {
  chunkSize: number;
  totalChunks: number;
  chunkHashes: Uint8Array;
  /** Where a shared block is copied (made on first use, then reused). */
  scratch?: Uint8Array<ArrayBuffer>;
}

/**
 * `data` itself, or (a view of the worker's shared blocks, which WebCrypto
 * does not take) its copy in the plan's one scratch buffer.
 */
function unshared(
  data: Uint8Array,
  plan: ChunkHashing,
): Uint8Array<ArrayBuffer> {
  if (data.buffer instanceof ArrayBuffer) {
    return data as Uint8Array<ArrayBuffer>;
  }
  if ((plan.scratch?.length ?? -1) < data.length) {
    plan.scratch = new Uint8Array(data.length);
  }
  plan.scratch!.set(data);
  return plan.scratch!.subarray(0, data.length);
}

/**
 * Puts the SHA-512 of each chunk of `data` (chunks `first` on) into
 * `chunkHashes`; returns the index of the next chunk. WebCrypto, all of a
 * block's chunks at once: node:crypto's `createHash` leaves ~230 bytes
 * outside V8's heap per hash until a full collection, which the first pass
 * (little garbage on the heap) never started, so planning a 4 GiB file at
 * 16 KiB (262,144 chunks) grew the upload by 60 MB (issue 22).
 */
async function hashChunks(
  data: Uint8Array,
  first: number,
  plan: ChunkHashing,
): Promise<number> {
  const { chunkSize, totalChunks, chunkHashes } = plan;
  const copy = unshared(data, plan);
  const pieces: Uint8Array<ArrayBuffer>[] = [];
  for (
    let start = 0;
    (start < data.length || first + pieces.length === 0) &&
    first + pieces.length < totalChunks;
    start += chunkSize
  ) {
    pieces.push(copy.subarray(start, Math.min(start + chunkSize, data.length)));
  }
  const digests = await Promise.all(
    pieces.map((piece) => crypto.subtle.digest("SHA-512", piece)),
  );
  digests.forEach((digest, i) =>
    chunkHashes.set(new Uint8Array(digest), (first + i) * HASH_BYTES)
  );
  return first + pieces.length;
}

/** Files at least this big have their whole hash made on a second core. */
const PARALLEL_HASH_BYTES = 16 * 1024 * 1024;

/** The worker's module (it needs read permission to start). */
const WORKER_MODULE = new URL("./file_hash_worker.ts", import.meta.url);

/** Whether the worker can start: its module is on disk and may be read. */
function mayStartWorker(): boolean {
  return WORKER_MODULE.protocol !== "file:" ||
    Deno.permissions.querySync({ name: "read", path: WORKER_MODULE })
        .state === "granted";
}

/**
 * The SHA-512 of a whole file, fed block by block. Blocks come from
 * `freeBlock` and go back with `update`; a block may not be touched after.
 */
interface FileHash extends AsyncDisposable {
  /** A block to read the next bytes into. */
  freeBlock(): Promise<Uint8Array>;
  /** Adds the first `length` bytes of `block` (from `freeBlock`). */
  update(block: Uint8Array, length: number): void;
  /** The hash of everything added. */
  digest(): Promise<Uint8Array>;
}

/** {@linkcode FileHash} on this thread, with one block read again and again. */
class LocalFileHash implements FileHash {
  readonly #hash = createHash("sha512");
  readonly #block: Uint8Array;
  /** Blocks of `blockSize` bytes. */
  constructor(blockSize: number) {
    this.#block = new Uint8Array(blockSize);
  }
  /** The one block. */
  freeBlock(): Promise<Uint8Array> {
    return Promise.resolve(this.#block);
  }
  /** Hashes it at once. */
  update(block: Uint8Array, length: number): void {
    this.#hash.update(block.subarray(0, length));
  }
  /** The hash. */
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#hash.digest()));
  }
  /** Nothing to free. */
  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * {@linkcode FileHash} on a worker (file_hash_worker.ts). Three blocks share
 * one SharedArrayBuffer: the main thread reads and hashes the chunks of one
 * while the worker hashes another whole; only block numbers are posted, no
 * bytes are copied or transferred.
 */
class WorkerFileHash implements FileHash {
  readonly #worker = new Worker(WORKER_MODULE.href, { type: "module" });
  readonly #blocks: Uint8Array[] = [];
  readonly #free: number[] = [];
  /** Who waits for a block coming back (or for the digest). */
  #waiting?: (slot: number | Uint8Array | Error) => void;
  #digest?: Promise<Uint8Array>;
  #failure?: Error;

  /** Three blocks of `blockSize` bytes. */
  constructor(blockSize: number) {
    const shared = new SharedArrayBuffer(3 * blockSize);
    for (let slot = 0; slot < 3; slot++) {
      this.#blocks.push(new Uint8Array(shared, slot * blockSize, blockSize));
      this.#free.push(slot);
    }
    this.#worker.postMessage(shared);
    // A block number: that block is hashed; 64 bytes: the file's hash.
    this.#worker.onmessage = (event: MessageEvent<number | Uint8Array>) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (waiting) waiting(event.data);
      else if (typeof event.data === "number") this.#free.push(event.data);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#failure = new Error(`hashing failed: ${event.message}`);
      this.#waiting?.(this.#failure);
    };
  }

  /** A free block, once the worker is done with one. */
  freeBlock(): Promise<Uint8Array> {
    if (this.#failure) return Promise.reject(this.#failure);
    const slot = this.#free.pop();
    if (slot !== undefined) return Promise.resolve(this.#blocks[slot]);
    return new Promise((resolve, reject) =>
      this.#waiting = (answer) =>
        typeof answer === "number"
          ? resolve(this.#blocks[answer])
          : reject(answer)
    );
  }

  /** Has the worker hash the block (not to be touched until it is free). */
  update(block: Uint8Array, length: number): void {
    this.#worker.postMessage({
      slot: this.#blocks.indexOf(block),
      length,
    });
  }

  /** The hash, once the worker hashed every block sent. */
  digest(): Promise<Uint8Array> {
    this.#digest ??= new Promise((resolve, reject) => {
      if (this.#failure) return reject(this.#failure);
      // Blocks still coming back are ignored; the 64 bytes are the hash.
      this.#worker.onmessage = (event: MessageEvent<number | Uint8Array>) => {
        if (event.data instanceof Uint8Array) resolve(event.data);
      };
      this.#waiting = (error) => reject(error);
      this.#worker.postMessage("digest");
    });
    return this.#digest;
  }

  /** Stops the worker. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#worker.terminate();
    return Promise.resolve();
  }
}

/**
 * Second pass: yields each chunk (in order, skipping those in `skip`) with
 * its hash from the plan, without hashing it again: the file must still have
 * the plan's size and modification time when it is opened and after its last
 * chunk, and every read must be full, or {@linkcode FileChangedError} is
 * thrown. (A change that keeps both is caught by the reconstructor, which
 * checks every chunk's and the whole file's hash.) The file is read in blocks
 * split into chunks in memory, seeking only past skipped chunks. The blocks
 * share one buffer: a chunk's `data` holds its bytes only until the next
 * chunk is asked for (copy them to keep them).
 *
 * @example
 * ```ts
 * declare const plan: ChunkPlan; // from planChunks()
 * for await (const chunk of readPlannedChunks(plan, new Set([1]))) {
 *   console.log(chunk.index, chunk.data.byteLength);
 * }
 * ```
 */
export async function* readPlannedChunks(
  plan: ChunkPlan,
  skip: ReadonlySet<number> = new Set(),
): AsyncGenerator<PlannedChunk> {
  const file = await openOrChanged(plan.path);
  try {
    if (!sameVersion(await file.stat(), plan.size, plan.mtimeMs)) {
      throw new FileChangedError(plan.path, "it was modified before sending");
    }
    const perBlock = blockBytes(plan.chunkSize) / plan.chunkSize;
    const buffer = new Uint8Array(
      Math.min(blockBytes(plan.chunkSize), Math.max(1, plan.size)),
    );
    let position = 0;
    for (let first = 1; first <= plan.totalChunks; first += perBlock) {
      const last = Math.min(first + perBlock - 1, plan.totalChunks);
      let from = first;
      while (from <= last && skip.has(from)) from++;
      let to = last;
      while (to >= from && skip.has(to)) to--;
      if (from > to) continue;
      const offset = (from - 1) * plan.chunkSize;
      const end = Math.min(to * plan.chunkSize, plan.size);
      if (position !== offset) await file.seek(offset, Deno.SeekMode.Start);
      // One buffer for the whole pass: a chunk's bytes are copied (into its
      // message) before the next chunk is asked for.
      const block = buffer.subarray(0, end - offset);
      const length = await readFull(file, block);
      position = offset + length;
      if (length !== block.length) {
        throw new FileChangedError(plan.path, `chunk ${from} is shorter`);
      }
      for (let index = from; index <= to; index++) {
        if (skip.has(index)) continue;
        const start = (index - 1) * plan.chunkSize;
        yield {
          index,
          offset: start,
          data: block.subarray(
            start - offset,
            Math.min(start + plan.chunkSize, plan.size) - offset,
          ),
          hash: plan.chunkHashes.subarray(
            (index - 1) * HASH_BYTES,
            index * HASH_BYTES,
          ),
        };
      }
    }
    // Bytes appended (or a rewrite) after the first pass would be missed above.
    if (!sameVersion(await file.stat(), plan.size, plan.mtimeMs)) {
      throw new FileChangedError(
        plan.path,
        "it was modified during the upload",
      );
    }
  } finally {
    file.close();
  }
}

/** Bytes read at once: whole chunks, about {@linkcode READ_BYTES} or one chunk. */
function blockBytes(chunkSize: number): number {
  return Math.max(1, Math.floor(READ_BYTES / chunkSize)) * chunkSize;
}

/** Whether `info` still shows the given size and modification time. */
function sameVersion(
  info: Deno.FileInfo,
  size: number,
  mtimeMs: number,
): boolean {
  return info.size === size && (info.mtime?.getTime() ?? 0) === mtimeMs;
}

/** Opens a file for reading; a file that is gone is a {@linkcode FileChangedError}. */
async function openOrChanged(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new FileChangedError(path, "it was deleted");
    }
    throw error;
  }
}
