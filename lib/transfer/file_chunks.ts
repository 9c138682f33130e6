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
  const plan: ChunkHashing = { chunkSize, totalChunks, chunkHashes };
  // A big file is hashed on two workers, a small one here (also when this
  // program may not read the workers' module).
  await using hashes = info.size >= PARALLEL_HASH_BYTES && mayStartWorker()
    ? new WorkerHashes(blockSize, plan)
    : new LocalHashes(blockSize, plan);
  let size = 0;
  let index = 0;
  let block = await hashes.freeBlock();
  while (index < totalChunks) {
    const length = await readFull(file, block);
    index = await hashes.update(block, length, index);
    size += length;
    onBytes(size);
    block = await hashes.freeBlock();
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
    fileHash: await hashes.digest(),
    chunkHashes,
  };
}

/** What the chunk hashing of the first pass needs of a plan. */
interface ChunkHashing {
  chunkSize: number;
  totalChunks: number;
  chunkHashes: Uint8Array;
}

/**
 * How many chunks a block of `length` bytes holds whose first chunk is
 * `first` (an empty file has one, empty).
 */
function chunksIn(length: number, first: number, plan: ChunkHashing): number {
  const count = Math.max(Math.ceil(length / plan.chunkSize), first ? 0 : 1);
  return Math.min(count, plan.totalChunks - first);
}

/** Files at least this big are hashed on two workers (see {@linkcode WorkerHashes}). */
const PARALLEL_HASH_BYTES = 16 * 1024 * 1024;

/** The workers' module (it needs read permission to start). */
const WORKER_MODULE = new URL("./file_hash_worker.ts", import.meta.url);

/** Whether the workers can start: their module is on disk and may be read. */
function mayStartWorker(): boolean {
  return WORKER_MODULE.protocol !== "file:" ||
    Deno.permissions.querySync({ name: "read", path: WORKER_MODULE })
        .state === "granted";
}

/**
 * The first pass's two hashes, fed block by block: each chunk's (into the
 * plan's `chunkHashes`) and the whole file's. Blocks come from `freeBlock`
 * and go back with `update`; a block may not be touched after.
 */
interface BlockHashes extends AsyncDisposable {
  /** A block to read the next bytes into. */
  freeBlock(): Promise<Uint8Array>;
  /**
   * Hashes the first `length` bytes of `block` (from `freeBlock`), whose
   * chunks start at chunk `first`; returns the index after its last chunk.
   */
  update(block: Uint8Array, length: number, first: number): Promise<number>;
  /** The whole file's hash, once every chunk's hash is in the plan too. */
  digest(): Promise<Uint8Array>;
}

/**
 * {@linkcode BlockHashes} on this thread (a small file), with one block read
 * again and again. The chunks by WebCrypto, all of a block's at once:
 * node:crypto's `createHash` leaves ~230 bytes outside V8's heap per hash
 * until a full collection, which a thread with little garbage on its heap
 * never starts (issue 22).
 */
class LocalHashes implements BlockHashes {
  readonly #hash = createHash("sha512");
  readonly #block: Uint8Array<ArrayBuffer>;
  readonly #plan: ChunkHashing;
  /** Blocks of `blockSize` bytes; chunk hashes go into `plan`. */
  constructor(blockSize: number, plan: ChunkHashing) {
    this.#block = new Uint8Array(blockSize);
    this.#plan = plan;
  }
  /** The one block. */
  freeBlock(): Promise<Uint8Array> {
    return Promise.resolve(this.#block);
  }
  /** Hashes it at once. */
  async update(_block: Uint8Array, length: number, first: number) {
    const { chunkSize, chunkHashes } = this.#plan;
    const count = chunksIn(length, first, this.#plan);
    const digests = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        crypto.subtle.digest(
          "SHA-512",
          this.#block.subarray(
            i * chunkSize,
            Math.min((i + 1) * chunkSize, length),
          ),
        )),
    );
    digests.forEach((digest, i) =>
      chunkHashes.set(new Uint8Array(digest), (first + i) * HASH_BYTES)
    );
    this.#hash.update(this.#block.subarray(0, length));
    return first + count;
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

/** What a worker answers (see file_hash_worker.ts). */
type WorkerAnswer = number | Uint8Array | { slot: number; hashes: Uint8Array };

/** Blocks in the buffer the workers share: one read while the others are hashed. */
const SLOTS = 4;

/**
 * {@linkcode BlockHashes} on two workers (file_hash_worker.ts) over one
 * SharedArrayBuffer of {@linkcode SLOTS} blocks: one keeps the whole file's
 * hash, the other hashes each block's chunks, so the two SHA-512 passes run
 * on two cores while this thread only reads. Only block numbers and the
 * chunk hashes (64 bytes each) are posted, never the file's bytes; a block
 * is read into again once both workers are done with it. The chunk hasher's
 * garbage (node:crypto, see {@linkcode LocalHashes}) goes with it when it is
 * stopped at the end of the pass. 512 MiB at 16 KiB (issue 22): the first
 * pass took 1.47-1.51 s when the chunks were hashed here by WebCrypto (its
 * thread pool cost 1.07 CPU s for 0.85 s of hashing), 1.13-1.28 s now: two
 * hashes of 0.85-0.9 CPU s each on two cores, the reads 0.13 s.
 */
class WorkerHashes implements BlockHashes {
  readonly #fileWorker = new Worker(WORKER_MODULE.href, { type: "module" });
  readonly #chunkWorker = new Worker(WORKER_MODULE.href, { type: "module" });
  readonly #plan: ChunkHashing;
  readonly #blocks: Uint8Array[] = [];
  readonly #free: number[] = [];
  /** Answers still to come for each block in use, and its first chunk. */
  readonly #inUse = new Map<number, { answers: number; first: number }>();
  /** Who waits for a block to come back (or for every answer). */
  #waiting?: () => void;
  #fileHash?: (hash: Uint8Array) => void;
  #failure?: Error;

  /** {@linkcode SLOTS} blocks of `blockSize` bytes; chunk hashes go into `plan`. */
  constructor(blockSize: number, plan: ChunkHashing) {
    this.#plan = plan;
    const blocks = new SharedArrayBuffer(SLOTS * blockSize);
    for (let slot = 0; slot < SLOTS; slot++) {
      this.#blocks.push(new Uint8Array(blocks, slot * blockSize, blockSize));
      this.#free.push(slot);
    }
    this.#fileWorker.postMessage({ blocks, slots: SLOTS });
    this.#chunkWorker.postMessage({
      blocks,
      slots: SLOTS,
      chunkSize: plan.chunkSize,
    });
    for (const worker of [this.#fileWorker, this.#chunkWorker]) {
      worker.onmessage = (event: MessageEvent<WorkerAnswer>) =>
        this.#answered(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        this.#failure = new Error(`hashing failed: ${event.message}`);
        this.#wake();
      };
    }
  }

  /** Takes a worker's answer: a block done (with its chunks' hashes), or the file's hash. */
  #answered(answer: WorkerAnswer): void {
    if (answer instanceof Uint8Array) return this.#fileHash?.(answer);
    const slot = typeof answer === "number" ? answer : answer.slot;
    const use = this.#inUse.get(slot)!;
    if (typeof answer !== "number") {
      this.#plan.chunkHashes.set(answer.hashes, use.first * HASH_BYTES);
    }
    if (--use.answers > 0) return;
    this.#inUse.delete(slot);
    this.#free.push(slot);
    this.#wake();
  }

  /** Wakes whoever waits (for a block, or for every answer). */
  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }

  /** Resolves once `ready` holds (or a worker failed). */
  async #until(ready: () => boolean): Promise<void> {
    while (!ready() && !this.#failure) {
      await new Promise<void>((resolve) => this.#waiting = resolve);
    }
    if (this.#failure) throw this.#failure;
  }

  /** A free block, once both workers are done with one. */
  async freeBlock(): Promise<Uint8Array> {
    await this.#until(() => this.#free.length > 0);
    return this.#blocks[this.#free.pop()!];
  }

  /** Has both workers hash the block (not to be touched until it is free). */
  update(block: Uint8Array, length: number, first: number): Promise<number> {
    const slot = this.#blocks.indexOf(block);
    const chunks = chunksIn(length, first, this.#plan);
    this.#inUse.set(slot, { answers: 2, first });
    this.#fileWorker.postMessage({ slot, length, chunks });
    this.#chunkWorker.postMessage({ slot, length, chunks });
    return Promise.resolve(first + chunks);
  }

  /** The file's hash, once every block came back from both workers. */
  async digest(): Promise<Uint8Array> {
    await this.#until(() => this.#inUse.size === 0);
    // A worker that fails meanwhile rejects it (onerror wakes the waiter).
    const hash = new Promise<Uint8Array>((resolve, reject) => {
      this.#fileHash = resolve;
      this.#waiting = () => reject(this.#failure);
    });
    this.#fileWorker.postMessage("digest");
    return await hash;
  }

  /** Stops both workers (and frees what they hold). */
  [Symbol.asyncDispose](): Promise<void> {
    this.#fileWorker.terminate();
    this.#chunkWorker.terminate();
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
