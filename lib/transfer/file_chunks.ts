/**
 * Splitting a file into fixed-size chunks, with a SHA-512 for each chunk and
 * for the whole file, without ever holding the whole file in memory.
 *
 * Uploading hashes each byte twice (once for the whole file, once for its
 * chunk), as the message format demands, and every message carries the
 * whole file's hash, so that one must be known before the first chunk goes.
 * {@linkcode planChunks} reads the file to hash it whole on this thread (a
 * big file: by the `openssl` program where it runs, openssl_sha512.ts). A
 * big file's small chunks are hashed at the same time on a worker
 * (file_hash_worker.ts) that reads the file on its own and goes on while the
 * first chunks are sent; its big chunks on this thread, as many as it gets
 * to while openssl runs. Where the program may write to
 * {@linkcode SCRATCH_DIR}, the hashes of a file with more than
 * {@linkcode SCRATCH_CHUNKS} chunks wait in a scratch file there rather than
 * in memory (a 4 GiB file at 16 KiB has 16 MB of them).
 * {@linkcode readPlannedChunks} reads it again to send it, hashing only the
 * big chunks not hashed yet: if the file's size or modification time
 * changed in between, or a read
 * comes up short, the upload stops with {@linkcode FileChangedError} instead
 * of sending a mix of old and new bytes.
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
import { fileURLToPath } from "node:url";
import { printableName } from "../common/printable.ts";
import { createHash } from "node:crypto";
import { UserError } from "../common/cli.ts";
import { mtimeSeconds } from "./file_times.ts";
import { readFull, readFullSync } from "../common/read_full.ts";
import { writeAllSync } from "../common/write_all.ts";
import { opensslSha512 } from "../common/openssl_sha512.ts";
import { hashEachChunk } from "./chunk_hashes.ts";

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
   * The SHA-512s of chunks `first` to `last` (1-based, both included), 64
   * bytes each back to back, once they are hashed (at once for a small
   * file); rejects with {@linkcode FileChangedError} if the file changed
   * meanwhile. Undefined for chunks not hashed in the first pass (a big
   * file's big chunks past those hashed while openssl hashed the file
   * whole): the second pass hashes them as it reads them
   * ({@linkcode readPlannedChunks}).
   */
  chunkHashes(first: number, last: number): Promise<Uint8Array | undefined>;
  /** Closes the scratch file the hashes wait in, if any: the plan is used up. */
  close(): void;
}

/** One chunk read for sending, with its hash from the plan. */
export interface PlannedChunk {
  /** 1-based, as in the message format. */
  index: number;
  /** Where the chunk starts in the file, in bytes. */
  offset: number;
  /** The chunk's bytes; valid only until the next chunk is read. */
  data: Uint8Array;
  /**
   * SHA-512 of `data`: as the first pass found it, or for a big chunk it did
   * not get to, of the bytes read now.
   */
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
 * Where a big file's chunk hashes wait for the second pass, when the program
 * may write there: the project's `out/` folder (for what runs produce),
 * wherever the program was started from; empty when this module is not a
 * local file. The scratch file is deleted as soon as it is open, so nothing
 * is left behind, even by a crash (where the system allows deleting an open
 * file; elsewhere when the plan is closed).
 */
export const SCRATCH_DIR: string = import.meta.url.startsWith("file:")
  ? fileURLToPath(new URL("../../out", import.meta.url))
  : "";

/**
 * Files with more chunks than this keep their hashes in a scratch file: 1 MiB
 * of hashes (256 MiB at 16 KiB). Fewer stay in memory.
 */
export const SCRATCH_CHUNKS = 16384;

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
 * First pass: hashes the file and each of its chunks (a big file's big chunks:
 * those it gets to while openssl runs), reading it in blocks of
 * {@linkcode READ_BYTES} split into chunks in memory. It resolves once the
 * whole file's hash is known; a big file's chunks may still be being hashed
 * on a second core then ({@linkcode ChunkPlan.chunkHashes} waits for them),
 * since sending its first chunks need not wait for its last ones, or, in
 * big chunks, are hashed only as the second pass reads them. A file
 * that is gone, or whose size or modification time changes meanwhile, throws
 * {@linkcode FileChangedError}.
 *
 * @example
 * ```ts
 * const plan = await planChunks("data/run.bin", 16384);
 * const hashes = await plan.chunkHashes(1, plan.totalChunks); // 64 bytes each
 * plan.close();
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
  };
  // A big file's small chunks are hashed on a worker during this pass; its
  // big chunks (HASH_WHEN_READ_BYTES says why) here while openssl hashes the
  // file whole, the rest as the second pass reads them; a small file's here
  // (also a big one's when this program may not read the worker's module).
  // A big file hashed on the side is hashed whole by OpenSSL where it runs (a
  // process, so a core, of its own, 1.4 times node:crypto's speed), else
  // here: see WorkerChunkHashes for why not on a second worker.
  const big = info.size >= PARALLEL_HASH_BYTES;
  const whenRead = big && chunkSize >= HASH_WHEN_READ_BYTES;
  const onWorker = big && !whenRead && mayStartWorker();
  const store = whenRead || onWorker ? openHashStore(totalChunks) : undefined;
  const worker = onWorker ? new WorkerChunkHashes(chunks, store!) : undefined;
  const held = store ? undefined : new MemoryHashes(totalChunks);
  const openssl = new AbortController();
  /** Stops the worker and lets the hashes go: the plan is failed or used up. */
  const close = () => {
    openssl.abort();
    worker?.stop();
    store?.close();
  };
  /** Big chunks hashed here while openssl ran, from the first. */
  let ahead = 0;
  let whole: WholeFile;
  let sameName: boolean;
  try {
    // Only where the chunks are hashed by other means: `held` is filled by
    // hashHere's reads.
    const byOpenssl = store
      ? opensslSha512(path, { signal: openssl.signal })
      : Promise.resolve(undefined);
    if (whenRead) {
      ahead = await hashChunksUntil(file, chunks, store!, byOpenssl);
    }
    const hashed = await byOpenssl;
    if (!hashed && ahead > 0) await file.seek(0, Deno.SeekMode.Start);
    whole = hashed
      ? { hash: hashed, bytes: info.size }
      : await hashHere(file, chunks, held?.all);
    // openssl and the worker read the file by its name: still this file?
    const named = big ? await Deno.stat(path).catch(() => undefined) : info;
    if (!named) throw new FileChangedError(path, "it was deleted");
    sameName = sameInode(named, info);
  } catch (error) {
    close();
    throw error;
  }
  if (
    whole.bytes !== info.size || !sameName ||
    !sameVersion(await file.stat().catch(() => undefined), info.size, mtimeMs)
  ) {
    close();
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
    chunkHashes: async (first, last) => {
      if (worker) return await worker.read(first - 1, last - 1);
      if (held) return held.read(first - 1, last - 1);
      return last <= ahead ? store!.read(first - 1, last - 1) : undefined;
    },
    close,
  };
}

/**
 * Whether two stats are of the same file (inode and device), where the
 * system tells (not on Windows: then yes).
 */
function sameInode(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  if (a.ino === null || b.ino === null) return true;
  return a.ino === b.ino && a.dev === b.dev;
}

/** What the chunk hashing of the first pass needs to know. */
interface ChunkHashing {
  path: string;
  size: number;
  chunkSize: number;
  totalChunks: number;
}

/**
 * Where a plan keeps its chunk hashes until the second pass asks for them.
 * Both kinds work on this thread: 4 KiB of hashes per block into or out of
 * the page cache take microseconds, less than an async operation's round
 * trip (which cost the 16 KiB upload about 5%).
 */
interface HashStore {
  /**
   * Keeps `hashes`, those of the chunks from `first` (0-based) on; the
   * blocks (from the worker, or from this thread while openssl runs) come
   * in order, each after the ones before.
   */
  write(first: number, hashes: Uint8Array): void;
  /** The hashes of chunks `first` to `last` (0-based, both included). */
  read(first: number, last: number): Uint8Array;
  /** Lets go of the hashes. */
  close(): void;
}

/** Chunk hashes in memory: all of a small file's, and a big file's where no scratch file can be. */
class MemoryHashes implements HashStore {
  /** All chunk hashes back to back, 64 bytes each. */
  readonly all: Uint8Array;

  /** Room for `totalChunks` hashes. */
  constructor(totalChunks: number) {
    this.all = new Uint8Array(totalChunks * HASH_BYTES);
  }

  /** Copies `hashes` into place. */
  write(first: number, hashes: Uint8Array): void {
    this.all.set(hashes, first * HASH_BYTES);
  }

  /** A view of the hashes asked for. */
  read(first: number, last: number): Uint8Array {
    return this.all.subarray(first * HASH_BYTES, (last + 1) * HASH_BYTES);
  }

  /** Nothing to close. */
  close(): void {}
}

/**
 * Chunk hashes in a scratch file, written as the worker hashes and read back
 * a block's at a time as the chunks go: the memory they take no longer grows
 * with the file. Two handles, so that a read's position is not a write's.
 */
class ScratchHashes implements HashStore {
  readonly #path: string;
  readonly #writer: Deno.FsFile;
  readonly #reader: Deno.FsFile;
  #removed = false;

  /** A new scratch file in `dir`, already deleted where the system allows. */
  constructor(dir: string) {
    Deno.mkdirSync(dir, { recursive: true });
    this.#path = Deno.makeTempFileSync({ dir, prefix: ".chunk_hashes_" });
    this.#writer = Deno.openSync(this.#path, { write: true });
    this.#reader = Deno.openSync(this.#path, { read: true });
    this.#remove();
  }

  /** Deletes the file's name (the open handles keep its bytes). */
  #remove(): void {
    try {
      Deno.removeSync(this.#path);
      this.#removed = true;
    } catch {
      // Windows keeps an open file's name: close() deletes it.
    }
  }

  /** Appends `hashes` (they come in order). */
  write(_first: number, hashes: Uint8Array): void {
    writeAllSync(this.#writer, hashes);
  }

  /** Reads the hashes asked for back from the file. */
  read(first: number, last: number): Uint8Array {
    const hashes = new Uint8Array((last - first + 1) * HASH_BYTES);
    this.#reader.seekSync(first * HASH_BYTES, Deno.SeekMode.Start);
    if (readFullSync(this.#reader, hashes) !== hashes.length) {
      throw new Error(
        `the scratch file of chunk hashes ${this.#path} is short`,
      );
    }
    return hashes;
  }

  /** Closes both handles and deletes the file if its name is still there. */
  close(): void {
    this.#writer.close();
    this.#reader.close();
    if (!this.#removed) this.#remove();
  }
}

/**
 * Where a big file's `totalChunks` hashes wait: a scratch file in
 * {@linkcode SCRATCH_DIR} for more than {@linkcode SCRATCH_CHUNKS} of them
 * when this program may write there, memory otherwise.
 */
function openHashStore(totalChunks: number): HashStore {
  const allowed = (name: "read" | "write") =>
    Deno.permissions.querySync({ name, path: SCRATCH_DIR }).state ===
      "granted";
  if (
    SCRATCH_DIR && totalChunks > SCRATCH_CHUNKS && allowed("read") &&
    allowed("write")
  ) {
    return new ScratchHashes(SCRATCH_DIR);
  }
  return new MemoryHashes(totalChunks);
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
 * Hashes big chunks from the start of `file` into `store`, a block at a
 * time, until `until` settles (openssl has hashed the file whole), and
 * returns how many: the second pass hashes the rest as it reads them.
 */
async function hashChunksUntil(
  file: Deno.FsFile,
  plan: ChunkHashing,
  store: HashStore,
  until: Promise<unknown>,
): Promise<number> {
  let settled = false;
  until.then(() => settled = true, () => settled = true);
  const block = new Uint8Array(blockBytes(plan.chunkSize));
  let count = 0;
  while (!settled && count < plan.totalChunks) {
    // Not past the planned size: a file that grew is refused after this pass.
    const room = plan.size - count * plan.chunkSize;
    const length = Math.min(await readFull(file, block), room);
    if (length <= 0) break;
    const hashes = hashEachChunk(block.subarray(0, length), plan.chunkSize);
    store.write(count, hashes);
    count += hashes.length / HASH_BYTES;
    if (length < block.length) break;
  }
  return count;
}

/**
 * The whole file's hash on this thread, and given `chunkHashes` each chunk's
 * too, from the same reads ({@linkcode hashBlockChunks}).
 */
async function hashHere(
  file: Deno.FsFile,
  plan: ChunkHashing,
  chunkHashes?: Uint8Array,
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
    if (chunkHashes) {
      index += await hashBlockChunks(
        block.subarray(0, length),
        index,
        plan,
        chunkHashes,
      );
    }
    fileHash.update(block.subarray(0, length));
    bytes += length;
    if (length < block.length) break;
  }
  return { hash: new Uint8Array(fileHash.digest()), bytes };
}

/**
 * Hashes the chunks of one block (the first being chunk `first`, 0-based)
 * into `chunkHashes`, returning how many. WebCrypto, all of a block's at
 * once: node:crypto's `createHash` leaves ~230 bytes outside V8's heap per
 * hash until a full collection, which a thread with little garbage on its
 * heap never starts (issue 22).
 */
async function hashBlockChunks(
  data: Uint8Array<ArrayBuffer>,
  first: number,
  plan: ChunkHashing,
  chunkHashes: Uint8Array,
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
    chunkHashes.set(new Uint8Array(digest), (first + i) * HASH_BYTES)
  );
  return count;
}

/**
 * Files at least this big are hashed whole by openssl where it runs, and
 * their chunks on a worker (see {@linkcode WorkerChunkHashes}) or, from
 * {@linkcode HASH_WHEN_READ_BYTES}, as they are read for sending.
 */
const PARALLEL_HASH_BYTES = 16 * 1024 * 1024;

/**
 * Chunks from this size are hashed on this thread, not on a worker: those
 * it gets to while openssl hashes the file whole in the first pass, the
 * rest as the second pass reads them. A hashing worker holds 25-30 MB while
 * it runs (Deno's runtime for a second thread, node:crypto, its reads), most
 * of it to the end of the program, and big chunks need the most memory
 * while they are sent. A 512 MiB upload at 512 KiB: 128-139 MB at 239-253
 * MB/s, against 136-137 at 208-240 with the worker; 4 GiB: 135-137 against
 * 146-155 MB, 207-265 against 226-244 MB/s (issue 22, 2026-12-05: the
 * README's Benchmark section). Small chunks keep the worker: hashed only
 * as read, a 16 KiB upload was 7% slower. Hashed by node:crypto
 * (chunk_hashes.ts), whose leftovers outside V8's heap (about 200 bytes a
 * hash) are few at these sizes: 8192 hashes for 4 GiB at 512 KiB.
 */
const HASH_WHEN_READ_BYTES = 128 * 1024;

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
 * its own while it is hashed whole (by openssl, or on this thread): the
 * first pass waits only for the whole file's hash, the worker goes on while
 * the first chunks are sent (hashing runs at 600-700 MB/s, sending at
 * 150-250). Its hashes go to a {@linkcode HashStore} as they come. A second
 * worker hashed the whole file until 2026-12-03: this thread only waited
 * for the two, but a hashing worker takes 25-30 MB of memory, most of it
 * kept to the end of the program (measured alone, 2026-12-05: 37 MB for a
 * process without it, 66 with it, and still 66 once it closed), and the
 * main thread has a core of its own while it loads the Kafka client and
 * connects (issue 22: see the README's benchmark section for the
 * measurements). Every waiter is told when the file turns out to have
 * changed.
 */
class WorkerChunkHashes {
  readonly #plan: ChunkHashing;
  readonly #store: HashStore;
  readonly #worker: Worker;
  /** Chunks whose hashes are in the store, from the first. */
  #count = 0;
  #failure?: Error;
  /** Set by `stop`: answers still queued then are not kept (the store is closed). */
  #stopped = false;
  readonly #waiters: {
    chunks: number;
    resolve: () => void;
    reject: (error: Error) => void;
  }[] = [];

  /** Starts hashing `plan`'s chunks into `store`. */
  constructor(plan: ChunkHashing, store: HashStore) {
    this.#plan = plan;
    this.#store = store;
    this.#worker = new Worker(WORKER_MODULE.href, { type: "module" });
    this.#worker.onmessage = (event: MessageEvent<WorkerAnswer>) =>
      this.#answered(event.data);
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#failed(
        readFailed(plan.path, { error: event.message, gone: false }),
      );
    };
    this.#worker.postMessage({
      path: plan.path,
      blockBytes: blockBytes(plan.chunkSize),
      chunkSize: plan.chunkSize,
    });
  }

  /** Takes the worker's answer: a block's chunk hashes, its end, or its failure. */
  #answered(answer: WorkerAnswer): void {
    if (this.#stopped) return;
    const { path, size, totalChunks } = this.#plan;
    if ("error" in answer) return this.#failed(readFailed(path, answer));
    if ("bytes" in answer) {
      if (answer.bytes !== size) {
        return this.#failed(
          new FileChangedError(path, "it changed while hashing"),
        );
      }
      this.#count = totalChunks;
      return this.#tellWaiters();
    }
    const count = answer.first + answer.hashes.length / HASH_BYTES;
    if (count > totalChunks) {
      return this.#failed(new FileChangedError(path, "it grew while hashing"));
    }
    try {
      this.#store.write(answer.first, answer.hashes);
    } catch (error) {
      return this.#failed(error as Error);
    }
    this.#count = count;
    this.#tellWaiters();
  }

  /** Hashing failed: every waiter for a hash still to come hears why. */
  #failed(error: Error): void {
    this.#failure ??= error;
    this.#tellWaiters();
  }

  /** Resolves the waiters whose hashes are in, rejects the rest after a failure. */
  #tellWaiters(): void {
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.chunks <= this.#count) waiter.resolve();
      else if (this.#failure) waiter.reject(this.#failure);
      else this.#waiters.push(waiter);
    }
  }

  /** Resolves once the first `chunks` chunks' hashes are in the store. */
  #hashed(chunks: number): Promise<void> {
    if (chunks <= this.#count) return Promise.resolve();
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) =>
      this.#waiters.push({ chunks, resolve, reject })
    );
  }

  /** The hashes of chunks `first` to `last` (0-based), once they are in. */
  async read(first: number, last: number): Promise<Uint8Array> {
    await this.#hashed(last + 1);
    return this.#store.read(first, last);
  }

  /** Stops the worker, done or not: its hashes are no longer wanted. */
  stop(): void {
    this.#stopped = true;
    this.#worker.terminate();
  }
}

/**
 * Second pass: yields each chunk (in order, skipping those in `skip`) with
 * its hash from the plan (waiting for it if the first pass's worker has not
 * got that far), or for a big chunk the first pass did not get to, hashed
 * as it is read: the file must still have
 * the plan's size and modification time when it is opened and after its last
 * chunk, and every read must be full, or {@linkcode FileChangedError} is
 * thrown. (A change that keeps both is caught by the reconstructor, which
 * checks every chunk's and the whole file's hash.) The file is read in blocks
 * split into chunks in memory, seeking only past skipped chunks. The blocks
 * share one buffer: a chunk's `data` holds its bytes only until the next
 * chunk is asked for (copy them to keep them). The pass closes the plan
 * ({@linkcode ChunkPlan.close}): a plan serves one second pass.
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
      const planned = await plan.chunkHashes(from, to);
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
      const hashes = planned ?? hashEachChunk(block, plan.chunkSize);
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
          hash: hashes.subarray(
            (index - from) * HASH_BYTES,
            (index - from + 1) * HASH_BYTES,
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
    plan.close();
  }
}

/** Bytes read at once: whole chunks, about {@linkcode READ_BYTES} or one chunk. */
function blockBytes(chunkSize: number): number {
  return Math.max(1, Math.floor(READ_BYTES / chunkSize)) * chunkSize;
}

/** Whether `info` still shows the given size and modification time (no `info`: no). */
function sameVersion(
  info: Deno.FileInfo | undefined,
  size: number,
  mtimeMs: number,
): boolean {
  return info?.size === size && (info.mtime?.getTime() ?? 0) === mtimeMs;
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
