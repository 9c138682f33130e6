/**
 * Splitting a file into fixed-size chunks, with a SHA-512 for each chunk and
 * for the whole file, without ever holding the whole file in memory.
 *
 * Uploading takes two passes over the file. {@linkcode planChunks} reads it
 * once to hash it. {@linkcode readVerifiedChunks} reads each chunk again just
 * before it is sent and checks it against the first pass: if the file changed
 * in between, the upload stops with {@linkcode FileChangedError} instead of
 * sending a mix of old and new bytes.
 *
 * @example
 * ```ts
 * import { planChunks, readVerifiedChunks } from "./file_chunks.ts";
 *
 * const plan = await planChunks("data/big.bin", 16384);
 * for await (const chunk of readVerifiedChunks(plan)) {
 *   console.log(chunk.index, chunk.offset, chunk.data.length);
 * }
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { sameBytes } from "./chunk.ts";
import { UserError } from "../common/cli.ts";

/** What the first pass learned about a file. */
export interface ChunkPlan {
  /** The file, as given on the command line. */
  path: string;
  /** Its size in bytes when hashed. */
  size: number;
  /** Modification time when hashed, in ms since the epoch. */
  mtimeMs: number;
  /** Bytes in every chunk but the last. */
  chunkSize: number;
  /** An empty file still has one (empty) chunk, so that it is rebuilt too. */
  totalChunks: number;
  /** SHA-512 of the whole file. */
  fileHash: Uint8Array;
  /** All chunk hashes back to back, 64 bytes each (compact for big files). */
  chunkHashes: Uint8Array;
}

/** One chunk read back and checked. */
export interface VerifiedChunk {
  /** 1-based, as in the message format. */
  index: number;
  /** Where the chunk starts in the file, in bytes. */
  offset: number;
  /** The chunk's bytes. */
  data: Uint8Array;
  /** SHA-512 of `data`. */
  hash: Uint8Array;
}

/** The file changed (or vanished) between hashing and sending. */
export class FileChangedError extends UserError {
  /** `path` changed; `detail` says how (size, time, gone). */
  constructor(path: string, detail: string) {
    super(`${path} changed while it was being uploaded (${detail})`);
    this.name = "FileChangedError";
  }
}

const HASH_BYTES = 64;

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
 * First pass: hashes the file and each of its chunks.
 * `onBytes` is told how many bytes have been read so far. A file that is gone
 * or grows meanwhile throws {@linkcode FileChangedError}.
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
  const totalChunks = countChunks(info.size, chunkSize);
  const chunkHashes = new Uint8Array(totalChunks * HASH_BYTES);
  const fileHash = createHash("sha512");
  const buffer = new Uint8Array(chunkSize);
  let size = 0;
  for (let index = 0; index < totalChunks; index++) {
    const length = await readFull(file, buffer);
    const data = buffer.subarray(0, length);
    fileHash.update(data);
    chunkHashes.set(
      createHash("sha512").update(data).digest(),
      index * HASH_BYTES,
    );
    size += length;
    onBytes(size);
    if (length < chunkSize) break;
  }
  if (size !== info.size || await readFull(file, buffer) !== 0) {
    throw new FileChangedError(path, "its size changed while hashing");
  }
  return {
    path,
    size,
    mtimeMs: info.mtime?.getTime() ?? 0,
    chunkSize,
    totalChunks,
    fileHash: new Uint8Array(fileHash.digest()),
    chunkHashes,
  };
}

/**
 * Second pass: yields each chunk (in order, skipping those in `skip`) after
 * checking its bytes against the plan. Throws {@linkcode FileChangedError}.
 *
 * @example
 * ```ts
 * declare const plan: ChunkPlan; // from planChunks()
 * for await (const chunk of readVerifiedChunks(plan, new Set([1]))) {
 *   console.log(chunk.index, chunk.data.byteLength);
 * }
 * ```
 */
export async function* readVerifiedChunks(
  plan: ChunkPlan,
  skip: ReadonlySet<number> = new Set(),
): AsyncGenerator<VerifiedChunk> {
  const file = await openOrChanged(plan.path);
  try {
    for (let index = 1; index <= plan.totalChunks; index++) {
      if (skip.has(index)) continue;
      const offset = (index - 1) * plan.chunkSize;
      const expectedLength = Math.min(plan.chunkSize, plan.size - offset);
      await file.seek(offset, Deno.SeekMode.Start);
      // A fresh buffer per chunk: it travels on to the producer's queue.
      const data = new Uint8Array(expectedLength);
      const length = await readFull(file, data);
      const hash = new Uint8Array(createHash("sha512").update(data).digest());
      const expected = plan.chunkHashes.subarray(
        (index - 1) * HASH_BYTES,
        index * HASH_BYTES,
      );
      if (length !== expectedLength || !sameBytes(hash, expected)) {
        throw new FileChangedError(plan.path, `chunk ${index} differs`);
      }
      yield { index, offset, data, hash };
    }
    // Bytes appended (or a rewrite) after the first pass would be missed above.
    const now = await file.stat();
    if (
      now.size !== plan.size || (now.mtime?.getTime() ?? 0) !== plan.mtimeMs
    ) {
      throw new FileChangedError(
        plan.path,
        "it was modified during the upload",
      );
    }
  } finally {
    file.close();
  }
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

/** Reads until `buffer` is full or the file ends; returns the bytes read. */
async function readFull(
  file: Deno.FsFile,
  buffer: Uint8Array,
): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}
