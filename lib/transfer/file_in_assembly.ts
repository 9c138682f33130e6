/**
 * A file being rebuilt: which of its chunks are on disk (a bitmap in pages,
 * so a huge announced count costs nothing), and the checks a chunk must pass
 * (agreeing with its file's other chunks; a size the limit and disk allow).
 *
 * @example
 * ```ts
 * import { type FileInAssembly, isReceived, markReceived } from "./file_in_assembly.ts";
 * declare const file: FileInAssembly;
 *
 * if (!isReceived(file, 3)) markReceived(file, 3);
 * ```
 *
 * @module
 */
import type { Hash } from "node:crypto";
import { freeBytes } from "../common/disk_space.ts";
import { type FileChunk, InvalidChunkError } from "./chunk.ts";
import { printableName } from "../common/printable.ts";

/** A file in progress: which chunks are on disk. */
export interface FileInAssembly {
  /** The version's key (see `FileIdentity`). */
  key: string;
  /** Path under WORKINGDIR, POSIX style. */
  relativePath: string;
  /** Chunks in the file. */
  totalChunks: number;
  /** Bytes per chunk (all but the last). */
  chunkSize: number;
  /** The whole file's SHA-512, as the sender computed it. */
  fileHash: Uint8Array;
  /** The sender's modification time (seconds), if its messages carried one. */
  mtime?: number;
  /**
   * One bit per chunk, in pages made only when a chunk of theirs arrives: a
   * message declaring 2^50 chunks costs one page, not 2^47 bytes.
   */
  received: Map<number, Uint8Array>;
  /** Chunks on disk. */
  count: number;
  /** When its first chunk was written. */
  startedAt: Date;
  /**
   * The whole file's hash so far, while every chunk came in order (1, 2, ...);
   * undefined once one did not, or for a file carried over from a restart.
   */
  running?: Hash;
  /**
   * The chunk `running` needs next; for a file hashed in the background, the
   * first chunk not on disk (all before it are).
   */
  nextInOrder: number;
  /**
   * For a big file hashed on a second core (`PartialHashes`): the bytes the
   * worker was told are on disk without gaps. Undefined for other files.
   */
  hashedTo?: number;
}

/**
 * The chunk size a chunk implies: its length, or for the last, offset / (n - 1).
 *
 * @example
 * ```ts
 * import type { FileChunk } from "./chunk.ts";
 * declare const chunk: FileChunk; // from decodeChunk()
 * const size = impliedChunkSize(chunk);
 * ```
 */
export function impliedChunkSize(chunk: FileChunk): number {
  if (chunk.totalChunks === 1) return chunk.data.length;
  if (chunk.chunkIndex < chunk.totalChunks) return chunk.data.length;
  return chunk.offset / (chunk.totalChunks - 1);
}

/**
 * A chunk must agree with the earlier chunks of its file (count, size): else
 * {@linkcode InvalidChunkError}.
 *
 * @example
 * ```ts
 * import type { FileChunk } from "./chunk.ts";
 * declare const chunk: FileChunk; // from decodeChunk()
 * declare const file: FileInAssembly;
 * checkFits(file, chunk);
 * ```
 */
export function checkFits(file: FileInAssembly, chunk: FileChunk): void {
  if (
    chunk.totalChunks !== file.totalChunks ||
    (file.totalChunks > 1 && impliedChunkSize(chunk) !== file.chunkSize)
  ) {
    throw new InvalidChunkError(
      `chunk ${chunk.chunkIndex} of ${
        printableName(file.relativePath)
      } does not match its other chunks (size or count)`,
    );
  }
}

/** Chunks per page of the received bitmap (8 KiB of bits). */
const PAGE_CHUNKS = 65536;
/**
 * Whether chunk `index` (1-based) of the file is on disk.
 *
 * @example
 * ```ts
 * declare const file: FileInAssembly;
 * if (!isReceived(file, 1)) console.log("chunk 1 missing");
 * ```
 */
export function isReceived(file: FileInAssembly, index: number): boolean {
  const page = file.received.get(Math.floor((index - 1) / PAGE_CHUNKS));
  const bit = (index - 1) % PAGE_CHUNKS;
  return page !== undefined && (page[bit >> 3] & (1 << (bit & 7))) !== 0;
}
/**
 * Notes chunk `index` (1-based) as on disk, counting it once.
 *
 * @example
 * ```ts
 * declare const file: FileInAssembly;
 * markReceived(file, 1);
 * ```
 */
export function markReceived(file: FileInAssembly, index: number): void {
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
 * Notes chunk `index` (1-based) as missing again (found damaged on disk).
 *
 * @example
 * ```ts
 * declare const file: FileInAssembly;
 * unmarkReceived(file, 1);
 * ```
 */
export function unmarkReceived(file: FileInAssembly, index: number): void {
  if (!isReceived(file, index)) return;
  const page = file.received.get(Math.floor((index - 1) / PAGE_CHUNKS))!;
  const bit = (index - 1) % PAGE_CHUNKS;
  page[bit >> 3] &= ~(1 << (bit & 7));
  file.count--;
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

/**
 * Bytes kept free besides the files themselves: the record of chunks on
 * disk (SQLite and its write-ahead log) grows as they arrive.
 */
export const STATE_HEADROOM_BYTES = 1024 * 1024;

/**
 * Bytes a file in progress still needs: its missing chunks, at most full
 * size each (the partial file is sparse, so written chunks take their place).
 *
 * @example
 * ```ts
 * declare const file: FileInAssembly;
 * const stillNeeded = bytesToCome(file);
 * ```
 */
export function bytesToCome(file: FileInAssembly): number {
  return (file.totalChunks - file.count) * file.chunkSize;
}

/** A file refused for its size: nothing of it is written, later chunks are skipped. */
export class FileTooBigError extends InvalidChunkError {
  /** `message` says the size and the limit it passes. */
  constructor(message: string) {
    super(message);
    this.name = "FileTooBigError";
  }
}

/**
 * Refuses ({@linkcode FileTooBigError}) a new file whose chunk announces
 * more bytes than `maxFileSize`, or than the disk of `root` has free once
 * `reservedBytes` (what the files in progress still need) and
 * {@linkcode STATE_HEADROOM_BYTES} are set aside: nothing is written or
 * allocated for it.
 *
 * @example
 * ```ts
 * import type { FileChunk } from "./chunk.ts";
 * declare const chunk: FileChunk; // from decodeChunk()
 * checkDeclaredSize(chunk, "a/b.trc", "/data/rebuilt", 64 * 1024 ** 3, 0);
 * ```
 */
export function checkDeclaredSize(
  chunk: FileChunk,
  relativePath: string,
  root: string,
  maxFileSize: number,
  reservedBytes: number,
): void {
  const size = smallestDeclaredSize(chunk);
  if (size > maxFileSize) {
    throw new FileTooBigError(
      `${
        printableName(relativePath)
      } announces at least ${size} bytes, more than the limit of ${maxFileSize} bytes (--max_file_size): the whole file is refused`,
    );
  }
  const free = Math.max(
    0,
    freeBytes(root) - reservedBytes - STATE_HEADROOM_BYTES,
  );
  if (size > free) {
    const besides = reservedBytes > 0
      ? ` besides the ${reservedBytes} bytes the files in progress need`
      : "";
    throw new FileTooBigError(
      `${
        printableName(relativePath)
      } needs at least ${size} bytes, more than the ${free} bytes free on disk${besides}: the whole file is refused`,
    );
  }
}
