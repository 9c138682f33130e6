/**
 * Splitting a file into fixed-size chunks, with a SHA-512 for each chunk and
 * for the whole file, without ever holding the whole file in memory.
 *
 * Uploading hashes each byte twice (once for the whole file, once for its
 * chunk), as the message format demands, and every message carries the
 * whole file's hash, so that one must be known before the first chunk goes.
 * {@linkcode planChunks} reads the file to hash it whole on this thread; a
 * big file's chunks are hashed at the same time on a worker
 * (file_hash_worker.ts) that reads the file on its own and goes on while the
 * first chunks are sent. {@linkcode readPlannedChunks} reads it again to send
 * it, without hashing: if the file's size or modification time changed in
 * between, or a read comes up short, the upload stops with
 * {@linkcode FileChangedError} instead of sending a mix of old and new bytes.
 * (The reconstructor checks the whole file's hash, so a change that keeps
 * both is still never rebuilt.)
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
  /**
   * All chunk hashes back to back, 64 bytes each (compact for big files); a
   * chunk's hash is there once {@linkcode ChunkPlan.hashed} says so.
   */
  chunkHashes: Uint8Array;
  /**
   * Resolves once the hashes of the first `chunks` chunks are in
   * `chunkHashes` (at once for a small file); rejects with
   * {@linkcode FileChangedError} if the file changed meanwhile.
   */
  hashed(chunks: number): Promise<void>;
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
 * {@linkcode READ_BYTES} split into chunks in memory. It resolves once the
 * whole file's hash is known; a big file's chunks may still be being hashed
 * on a second core then ({@linkcode ChunkPlan.hashed} says when a chunk's
 * hash is in), since sending its first chunks need not wait for its last
 * ones. A file that is gone, or whose size or modification time changes
 * meanwhile, throws {@linkcode FileChangedError}.
 *
 * @example
 * ```ts
 * const plan = await planChunks("data/run.bin", 16384);
 * await plan.hashed(plan.totalChunks); // every chunk's hash is in the plan
 * ```
 */
export async function planChunks(
  path: string,
  chunkSize: number,
): Promise<ChunkPlan> {
  using file = await openOrChanged(path);
  const info = await file.stat();
  const mtimeMs = info.mtime?.getTime() ?? 0;
  const totalChunks = countChunks(info.size, chunkSize);
  const chunks: ChunkHashing = {
    path,
    size: info.size,
    chunkSize,
    totalChunks,
    chunkHashes: new Uint8Array(totalChunks * HASH_BYTES),
  };
  // A big file's chunks are hashed on a worker, a small file's here (also
  // when this program may not read the worker's module). The whole file is
  // hashed here in both cases: see WorkerChunkHashes for why not on a second
  // worker.
  const onWorker = info.size >= PARALLEL_HASH_BYTES && mayStartWorker();
  const chunkHashes = onWorker ? new WorkerChunkHashes(chunks) : undefined;
  const whole = await hashHere(file, chunks, !onWorker);
  if (
    whole.bytes !== info.size ||
    !sameVersion(await file.stat(), info.size, mtimeMs)
  ) {
    throw new FileChangedError(path, "it changed while hashing");
  }
  return {
    path,
    size: info.size,
    mtimeMs,
    mtimeSeconds: await mtimeSeconds(path, mtimeMs),
    chunkSize,
    totalChunks,
    fileHash: whole.hash,
    chunkHashes: chunks.chunkHashes,
    hashed: chunkHashes
      ? (count) => chunkHashes.hashed(count)
      : () => Promise.resolve(),
  };
}

/** What the chunk hashing of the first pass needs to know, and where it puts the hashes. */
interface ChunkHashing {
  path: string;
  size: number;
  chunkSize: number;
  totalChunks: number;
  chunkHashes: Uint8Array;
}

/** The whole file's SHA-512, and how many bytes were read up to its end. */
interface WholeFile {
  hash: Uint8Array;
  bytes: number;
}

/**
 * How many chunks a block of `length` bytes holds whose first chunk is
 * `first` (an empty file has one, empty).
 */
function chunksIn(length: number, first: number, plan: ChunkHashing): number {
  const count = Math.max(Math.ceil(length / plan.chunkSize), first ? 0 : 1);
  return Math.min(count, plan.totalChunks - first);
}

/**
 * The whole file's hash on this thread, and with `withChunks` each chunk's
 * too, from the same reads ({@linkcode hashBlockChunks}).
 */
async function hashHere(
  file: Deno.FsFile,
  plan: ChunkHashing,
  withChunks: boolean,
): Promise<WholeFile> {
  const fileHash = createHash("sha512");
  // A small file's block is its size and one byte (the short read that ends
  // the loop): a fresh 1 MiB block per file of 10 KiB cost more than hashing.
  const block = new Uint8Array(
    Math.min(blockBytes(plan.chunkSize), plan.size + 1),
  );
  let bytes = 0;
  let index = 0;
  while (true) {
    const length = await readFull(file, block);
    if (withChunks) {
      index += await hashBlockChunks(block.subarray(0, length), index, plan);
    }
    fileHash.update(block.subarray(0, length));
    bytes += length;
    if (length < block.length) break;
  }
  return { hash: new Uint8Array(fileHash.digest()), bytes };
}

/**
 * Hashes the chunks of one block (the first being chunk `first`, 0-based)
 * into `plan.chunkHashes`, returning how many. WebCrypto, all of a block's at
 * once: node:crypto's `createHash` leaves ~230 bytes outside V8's heap per
 * hash until a full collection, which a thread with little garbage on its
 * heap never starts (issue 22).
 */
async function hashBlockChunks(
  data: Uint8Array<ArrayBuffer>,
  first: number,
  plan: ChunkHashing,
): Promise<number> {
  const count = chunksIn(data.length, first, plan);
  const digests = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      crypto.subtle.digest(
        "SHA-512",
        data.subarray(i * plan.chunkSize, (i + 1) * plan.chunkSize),
      )),
  );
  digests.forEach((digest, i) =>
    plan.chunkHashes.set(new Uint8Array(digest), (first + i) * HASH_BYTES)
  );
  return count;
}

/** Files at least this big have their chunks hashed on a worker (see {@linkcode WorkerChunkHashes}). */
const PARALLEL_HASH_BYTES = 16 * 1024 * 1024;

/** The worker's module (it needs read permission to start). */
const WORKER_MODULE = new URL("./file_hash_worker.ts", import.meta.url);

/** Whether the worker can start: its module is on disk and may be read. */
function mayStartWorker(): boolean {
  return WORKER_MODULE.protocol !== "file:" ||
    Deno.permissions.querySync({ name: "read", path: WORKER_MODULE })
        .state === "granted";
}

/** What the worker posts (see file_hash_worker.ts). */
type WorkerAnswer =
  | { first: number; hashes: Uint8Array }
  | { bytes: number }
  | { error: string; gone: boolean };

/** The error for a worker's `{ error, gone }` answer. */
function readFailed(path: string, answer: { error: string; gone: boolean }) {
  return answer.gone
    ? new FileChangedError(path, "it was deleted")
    : new Error(`hashing ${printableName(path)} failed: ${answer.error}`);
}

/**
 * Each chunk's SHA-512 of a big file, from a worker that reads the file on
 * its own while this thread hashes it whole: the first pass waits only for
 * the whole file's hash, the worker goes on while the first chunks are sent
 * (hashing runs at 600-700 MB/s, sending at 150-250). A second worker
 * hashed the whole file until 2026-12-03: this thread only waited for the
 * two, but every worker keeps 12-15 MB of memory to the end of the program
 * (V8's isolate and its thread's malloc arena are not given back), and the
 * main thread has a core of its own while it loads the Kafka client and
 * connects (issue 22: see the README's benchmark section for the
 * measurements). Every waiter is told when the file turns out to have
 * changed.
 */
class WorkerChunkHashes {
  readonly #plan: ChunkHashing;
  /** Chunks whose hashes are in the plan, from the first. */
  #count = 0;
  #failure?: Error;
  readonly #waiters: {
    chunks: number;
    resolve: () => void;
    reject: (error: Error) => void;
  }[] = [];

  /** Starts hashing `plan`'s chunks into `plan.chunkHashes`. */
  constructor(plan: ChunkHashing) {
    this.#plan = plan;
    const worker = new Worker(WORKER_MODULE.href, { type: "module" });
    worker.onmessage = (event: MessageEvent<WorkerAnswer>) =>
      this.#answered(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.#answered({ error: event.message, gone: false });
    };
    worker.postMessage({
      path: plan.path,
      blockBytes: blockBytes(plan.chunkSize),
      chunkSize: plan.chunkSize,
    });
  }

  /** Takes the worker's answer: a block's chunk hashes, its end, or its failure. */
  #answered(answer: WorkerAnswer): void {
    const { path, size, totalChunks, chunkHashes } = this.#plan;
    if ("error" in answer) this.#failure ??= readFailed(path, answer);
    else if ("hashes" in answer) {
      const count = answer.first + answer.hashes.length / HASH_BYTES;
      if (count > totalChunks) {
        this.#failure ??= new FileChangedError(path, "it grew while hashing");
      } else {
        chunkHashes.set(answer.hashes, answer.first * HASH_BYTES);
        this.#count = count;
      }
    } else if (answer.bytes !== size) {
      this.#failure ??= new FileChangedError(path, "it changed while hashing");
    } else this.#count = totalChunks;
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.chunks <= this.#count) waiter.resolve();
      else if (this.#failure) waiter.reject(this.#failure);
      else this.#waiters.push(waiter);
    }
  }

  /** Resolves once the first `chunks` chunks' hashes are in the plan. */
  hashed(chunks: number): Promise<void> {
    if (chunks <= this.#count) return Promise.resolve();
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) =>
      this.#waiters.push({ chunks, resolve, reject })
    );
  }
}

/**
 * Second pass: yields each chunk (in order, skipping those in `skip`) with
 * its hash from the plan (waiting for it if the first pass's worker has not
 * got that far), without hashing it again: the file must still have
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
      await plan.hashed(to);
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
