/**
 * One Kafka message per chunk of a file: the OpenMSIStream-compatible format.
 *
 * The message value is a msgpack array of nine fields:
 *
 * | # | field               | type    |
 * |---|---------------------|---------|
 * | 0 | filename            | str     |
 * | 1 | file_hash (SHA-512) | bin 64  |
 * | 2 | chunk_hash (SHA-512)| bin 64  |
 * | 3 | chunk_offset_write  | int     |
 * | 4 | chunk_i (1-based)   | int     |
 * | 5 | n_total_chunks      | int     |
 * | 6 | subdir_str          | str     |
 * | 7 | filename_append     | str     |
 * | 8 | data                | bin     |
 *
 * Readers also accept a tenth field (the file's mtime) that newer producers
 * send. {@linkcode decodeChunk} checks every field, including the chunk's hash,
 * so a consumer can skip a bad message instead of writing it.
 *
 * @example
 * ```ts
 * import { decodeChunk, encodeChunk, sha512 } from "./chunk.ts";
 *
 * const data = new TextEncoder().encode("hello");
 * const bytes = encodeChunk({
 *   filename: "a.txt", fileHash: sha512(data), chunkHash: sha512(data),
 *   offset: 0, chunkIndex: 1, totalChunks: 1, subdir: "", filenameAppend: "", data,
 * });
 * decodeChunk(bytes).filename; // "a.txt"
 * ```
 *
 * @module
 */
import { decode, encode } from "@msgpack/msgpack";
import { createHash } from "node:crypto";

/** One chunk of one file, as carried by one message. */
export interface FileChunk {
  filename: string;
  fileHash: Uint8Array;
  chunkHash: Uint8Array;
  /** Byte offset of `data` in the file. */
  offset: number;
  /** 1-based. */
  chunkIndex: number;
  totalChunks: number;
  /** POSIX path of the file's folder under the uploaded root; "" at the top. */
  subdir: string;
  /** Inserted before the suffix when the file is rebuilt; "" normally. */
  filenameAppend: string;
  data: Uint8Array;
}

/** A message that is not a valid chunk; the reason says why. */
export class InvalidChunkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidChunkError";
  }
}

/** SHA-512 is 64 bytes. */
const HASH_BYTES = 64;

/**
 * SHA-512 of some bytes.
 *
 * @example
 * ```ts
 * sha512(new Uint8Array()).length; // 64
 * ```
 */
export function sha512(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha512").update(data).digest());
}

/**
 * Whether two byte arrays hold the same bytes.
 *
 * @example
 * ```ts
 * sameBytes(new Uint8Array([1]), new Uint8Array([1])); // true
 * ```
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Hex text of a hash, for names and log lines.
 *
 * @example
 * ```ts
 * toHex(new Uint8Array([255, 1])); // "ff01"
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The message key: `<subdir with / as _>_<filename>_chunk_<i>_of_<n>`.
 * Consumers never rely on it; it only spreads chunks over partitions.
 *
 * @example
 * ```ts
 * chunkKey({ subdir: "run1/a", filename: "x.bin", chunkIndex: 2, totalChunks: 9 });
 * // "run1_a_x.bin_chunk_2_of_9"
 * ```
 */
export function chunkKey(
  chunk: Pick<FileChunk, "subdir" | "filename" | "chunkIndex" | "totalChunks">,
): string {
  const prefix = chunk.subdir ? `${chunk.subdir.replaceAll("/", "_")}_` : "";
  return `${prefix}${chunk.filename}_chunk_${chunk.chunkIndex}_of_${chunk.totalChunks}`;
}

/**
 * Encodes a chunk as the 9-field msgpack array.
 *
 * @example
 * ```ts
 * const bytes = encodeChunk(chunk);
 * ```
 */
export function encodeChunk(chunk: FileChunk): Uint8Array {
  return encode([
    chunk.filename,
    chunk.fileHash,
    chunk.chunkHash,
    chunk.offset,
    chunk.chunkIndex,
    chunk.totalChunks,
    chunk.subdir,
    chunk.filenameAppend,
    chunk.data,
  ]);
}

/**
 * Decodes and checks a message value. Throws {@linkcode InvalidChunkError}
 * when it is not msgpack, has the wrong fields, or its data does not match its
 * hash, offset or position.
 *
 * @example
 * ```ts
 * try {
 *   decodeChunk(new Uint8Array([1, 2, 3]));
 * } catch (error) {
 *   // InvalidChunkError: "not a msgpack array of 9 or 10 fields"
 * }
 * ```
 */
export function decodeChunk(value: Uint8Array | null): FileChunk {
  if (value === null) throw new InvalidChunkError("empty message");
  let fields: unknown;
  try {
    fields = decode(value, { useBigInt64: false });
  } catch {
    throw new InvalidChunkError("not msgpack");
  }
  if (!Array.isArray(fields) || (fields.length !== 9 && fields.length !== 10)) {
    throw new InvalidChunkError("not a msgpack array of 9 or 10 fields");
  }
  const [
    filename,
    fileHash,
    chunkHash,
    offset,
    chunkIndex,
    totalChunks,
    subdir,
    filenameAppend,
    data,
  ] = fields;
  const chunk: FileChunk = {
    filename: requireString(filename, "filename"),
    fileHash: requireHash(fileHash, "file_hash"),
    chunkHash: requireHash(chunkHash, "chunk_hash"),
    offset: requireCount(offset, "chunk_offset_write", 0),
    chunkIndex: requireCount(chunkIndex, "chunk_i", 1),
    totalChunks: requireCount(totalChunks, "n_total_chunks", 1),
    subdir: requireString(subdir, "subdir_str"),
    filenameAppend: requireString(filenameAppend, "filename_append"),
    data: requireBytes(data, "data"),
  };
  checkPosition(chunk);
  if (!sameBytes(sha512(chunk.data), chunk.chunkHash)) {
    throw new InvalidChunkError("chunk data does not match its SHA-512");
  }
  return chunk;
}

/** Offset, index and size must fit together: chunks are equal but the last. */
function checkPosition(chunk: FileChunk): void {
  const { offset, chunkIndex, totalChunks, data } = chunk;
  if (chunkIndex > totalChunks) {
    throw new InvalidChunkError(
      `chunk_i ${chunkIndex} > n_total_chunks ${totalChunks}`,
    );
  }
  if (chunkIndex < totalChunks) {
    if (data.length === 0 || offset !== (chunkIndex - 1) * data.length) {
      throw new InvalidChunkError(
        `offset ${offset} does not fit chunk ${chunkIndex} of ${data.length} bytes`,
      );
    }
    return;
  }
  // The last chunk may be shorter; the chunk size is then offset / (n - 1).
  if (totalChunks === 1) {
    if (offset !== 0) {
      throw new InvalidChunkError("a single chunk must start at 0");
    }
    return;
  }
  const chunkSize = offset / (totalChunks - 1);
  if (
    !Number.isInteger(chunkSize) || data.length === 0 ||
    data.length > chunkSize
  ) {
    throw new InvalidChunkError(
      `last chunk's offset ${offset} and size ${data.length} do not fit ${totalChunks} chunks`,
    );
  }
}

function requireString(value: unknown, field: string): string {
  if (typeof value !== "string") {
    throw new InvalidChunkError(`${field} is not a string`);
  }
  return value;
}

function requireBytes(value: unknown, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidChunkError(`${field} is not binary`);
  }
  return value;
}

function requireHash(value: unknown, field: string): Uint8Array {
  const bytes = requireBytes(value, field);
  if (bytes.length !== HASH_BYTES) {
    throw new InvalidChunkError(`${field} is not a 64-byte SHA-512`);
  }
  return bytes;
}

function requireCount(value: unknown, field: string, min: number): number {
  if (
    typeof value !== "number" || !Number.isSafeInteger(value) || value < min
  ) {
    throw new InvalidChunkError(`${field} is not a whole number >= ${min}`);
  }
  return value;
}
