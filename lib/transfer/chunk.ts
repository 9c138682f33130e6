/**
 * One Kafka message per chunk of a file: the OpenMSIStream-compatible format.
 *
 * The message value is a msgpack array (not a map) of ten fields; strings are
 * msgpack str, bytes msgpack bin:
 *
 * | # | field                | type               | meaning                                   |
 * |---|----------------------|--------------------|-------------------------------------------|
 * | 0 | filename             | str                | base name, no folder separators           |
 * | 1 | file_hash            | bin 64             | SHA-512 of the whole file                 |
 * | 2 | chunk_hash           | bin 64             | SHA-512 of this chunk's data              |
 * | 3 | chunk_offset_write   | int                | byte offset of the chunk in the file      |
 * | 4 | chunk_i              | int                | chunk number, 1-based                     |
 * | 5 | n_total_chunks       | int                | chunks in the file                        |
 * | 6 | subdir_str           | str                | POSIX folder under the uploaded root, ""  |
 * | 7 | filename_append      | str                | inserted before the suffix; "" normally   |
 * | 8 | data                 | bin                | the chunk's bytes                         |
 * | 9 | file_mtime           | float64, optional  | modification time, seconds; 0.0 = unknown |
 *
 * {@linkcode encodeChunk} always sends the tenth field (current OpenMSIStream
 * does the same); {@linkcode decodeChunk} also reads the 9-field messages of
 * older senders (no modification time then). The key is
 * `<subdir with / as _>_<filename>_chunk_<i>_of_<n>`, so a file at the top has
 * a key starting with `_`, as OpenMSIStream forms it. {@linkcode decodeChunk}
 * checks every field, including (unless told to leave it to the caller) the
 * chunk's hash, so a consumer can skip a bad message instead of writing it.
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
import { decode, encode, Encoder } from "@msgpack/msgpack";
import { createHash } from "node:crypto";
import { hasUnprintable, printableName } from "../common/printable.ts";

/** One chunk of one file, as carried by one message. */
export interface FileChunk {
  /** Base name of the file. */
  filename: string;
  /**
   * SHA-512 of the whole file. From {@linkcode decodeChunk}: 64 bytes of its
   * own, not a view into the message, so it may be kept after the message's
   * buffer is given back.
   */
  fileHash: Uint8Array;
  /** SHA-512 of `data` (its own 64 bytes, as `fileHash`). */
  chunkHash: Uint8Array;
  /** Byte offset of `data` in the file. */
  offset: number;
  /** 1-based. */
  chunkIndex: number;
  /** Chunks in the file. */
  totalChunks: number;
  /** POSIX path of the file's folder under the uploaded root; "" at the top. */
  subdir: string;
  /** Inserted before the suffix when the file is rebuilt; "" normally. */
  filenameAppend: string;
  /** The chunk's bytes. */
  data: Uint8Array;
  /**
   * The file's modification time in seconds since the epoch (field 9);
   * undefined when the sender did not say (9 fields, or 0.0).
   */
  mtime?: number;
}

/** A message that is not a valid chunk; the reason says why. */
export class InvalidChunkError extends Error {
  /** Makes one with the reason. */
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
 * The message key, as OpenMSIStream forms it:
 * `<subdir with / as _>_<filename>_chunk_<i>_of_<n>`; a top-level file's
 * subdir is empty, so its key starts with `_`. Consumers never rely on it; it
 * spreads chunks over partitions the same way as OpenMSIStream does.
 *
 * @example
 * ```ts
 * chunkKey({ subdir: "run1/a", filename: "x.bin", chunkIndex: 2, totalChunks: 9 });
 * // "run1_a_x.bin_chunk_2_of_9"
 * chunkKey({ subdir: "", filename: "x.bin", chunkIndex: 1, totalChunks: 1 });
 * // "_x.bin_chunk_1_of_1"
 * ```
 */
export function chunkKey(
  chunk: Pick<FileChunk, "subdir" | "filename" | "chunkIndex" | "totalChunks">,
): string {
  const prefix = `${chunk.subdir.replaceAll("/", "_")}_`;
  return `${prefix}${chunk.filename}_chunk_${chunk.chunkIndex}_of_${chunk.totalChunks}`;
}

/**
 * The file part of a chunk key (everything before `_chunk_<i>_of_<n>`): the
 * same for every chunk of one file, so the uploaders pick the partition from
 * it and all chunks of a file land on one partition.
 *
 * @example
 * ```ts
 * filePartOfKey("run1_a_x.bin_chunk_2_of_9"); // "run1_a_x.bin"
 * ```
 */
export function filePartOfKey(key: string): string {
  return key.replace(/_chunk_\d+_of_\d+$/, "");
}

/** msgpack headers: fixarray of 8 and 10, float64, bin 8/16/32. */
const FIXARRAY_8 = 0x98;
const FIXARRAY_10 = 0x9a;
const FLOAT64 = 0xcb;
const BIN8 = 0xc4;
const BIN16 = 0xc5;
const BIN32 = 0xc6;

/** Encodes a chunk's fields but its data; its output is copied at once. */
const smallFields = new Encoder();

/**
 * Encodes a chunk as the 10-field msgpack array; the modification time is
 * always a float64 (0.0 when unknown), as OpenMSIStream sends it, even when
 * it is a whole number of seconds.
 *
 * @example
 * ```ts
 * const data = new TextEncoder().encode("hello");
 * const bytes = encodeChunk({
 *   filename: "a.txt", fileHash: sha512(data), chunkHash: sha512(data),
 *   offset: 0, chunkIndex: 1, totalChunks: 1, subdir: "", filenameAppend: "",
 *   data, mtime: 1700000000.25,
 * });
 * ```
 */
export function encodeChunk(chunk: FileChunk): Uint8Array {
  return encodeChunkReusing(chunk, undefined);
}

/**
 * {@linkcode encodeChunk}'s bytes, written into `spare` when it has exactly
 * their length (a message buffer no one reads any more, e.g. one Kafka has
 * acknowledged), else into a new buffer. An uploader that recycles its
 * message buffers this way makes no garbage per chunk.
 *
 * @example
 * ```ts
 * const data = new Uint8Array(16384);
 * const chunk = {
 *   filename: "a.bin", fileHash: sha512(data), chunkHash: sha512(data),
 *   offset: 0, chunkIndex: 1, totalChunks: 3, subdir: "", filenameAppend: "", data,
 * };
 * const first = encodeChunk({ ...chunk, chunkIndex: 2, offset: 16384 });
 * // ... once Kafka has answered for `first`:
 * const second = encodeChunkReusing({ ...chunk, chunkIndex: 3, offset: 32768 }, first);
 * second === first; // true: same length, buffer reused
 * ```
 */
export function encodeChunkReusing(
  chunk: FileChunk,
  spare: Uint8Array | undefined,
): Uint8Array {
  // The eight small fields through msgpack; the bin header, the data and the
  // time are written around them, so the chunk's bytes are copied once.
  const head = smallFields.encodeSharedRef(firstEightFields(chunk));
  if (head[0] !== FIXARRAY_8) throw new Error("unexpected msgpack header");
  const length = chunk.data.length;
  const binHeader = length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
  const size = head.length + binHeader + length + 9;
  const bytes = spare?.length === size ? spare : new Uint8Array(size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, size);
  bytes.set(head);
  bytes[0] = FIXARRAY_10;
  let at = head.length;
  // msgpack's bin 8, bin 16 and bin 32, as its encoder picks them.
  if (binHeader === 2) {
    bytes[at] = BIN8;
    bytes[at + 1] = length;
  } else if (binHeader === 3) {
    bytes[at] = BIN16;
    view.setUint16(at + 1, length, false);
  } else {
    bytes[at] = BIN32;
    view.setUint32(at + 1, length, false);
  }
  at += binHeader;
  bytes.set(chunk.data, at);
  at += length;
  bytes[at] = FLOAT64;
  view.setFloat64(at + 1, chunk.mtime ?? 0, false);
  return bytes;
}

/**
 * Encodes a chunk as the 9-field array of older senders (no modification
 * time), for readers that accept exactly nine fields.
 *
 * @example
 * ```ts
 * const data = new TextEncoder().encode("hello");
 * decodeChunk(encodeNineFields({
 *   filename: "a.txt", fileHash: sha512(data), chunkHash: sha512(data),
 *   offset: 0, chunkIndex: 1, totalChunks: 1, subdir: "", filenameAppend: "", data,
 * })).mtime; // undefined
 * ```
 */
export function encodeNineFields(chunk: FileChunk): Uint8Array {
  return encode([...firstEightFields(chunk), chunk.data]);
}

/** The eight fields before the data, in the message's order. */
function firstEightFields(chunk: FileChunk): unknown[] {
  return [
    chunk.filename,
    chunk.fileHash,
    chunk.chunkHash,
    chunk.offset,
    chunk.chunkIndex,
    chunk.totalChunks,
    chunk.subdir,
    chunk.filenameAppend,
  ];
}

/**
 * Decodes and checks a message value. Throws {@linkcode InvalidChunkError}
 * when it is not msgpack, has the wrong fields, or its data does not match its
 * hash, offset or position.
 *
 * With `{ checkHash: false }` the data's SHA-512 is left to the caller (see
 * {@linkcode checkChunkHash}): the file assembler checks the whole file's
 * hash anyway, and a chunk's own hash only where that finds something wrong.
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
export function decodeChunk(
  value: Uint8Array | null,
  options: DecodeOptions = {},
): FileChunk {
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
    mtime,
  ] = fields;
  const chunk: FileChunk = {
    filename: requireName(filename, "filename"),
    // Copies (128 bytes): the hashes outlive the message, whose buffer the
    // rebuild gives back once the data is written (releaseBuffer).
    fileHash: new Uint8Array(requireHash(fileHash, "file_hash")),
    chunkHash: new Uint8Array(requireHash(chunkHash, "chunk_hash")),
    offset: requireCount(offset, "chunk_offset_write", 0),
    chunkIndex: requireCount(chunkIndex, "chunk_i", 1),
    totalChunks: requireCount(totalChunks, "n_total_chunks", 1),
    subdir: requireName(subdir, "subdir_str"),
    filenameAppend: requireName(filenameAppend, "filename_append"),
    data: requireBytes(data, "data"),
    mtime: optionalMtime(mtime),
  };
  checkPosition(chunk);
  if (options.checkHash ?? true) checkChunkHash(chunk);
  return chunk;
}

/** How {@linkcode decodeChunk} checks a message. */
export interface DecodeOptions {
  /** Whether the data must match the chunk's SHA-512 (default true). */
  checkHash?: boolean;
}

/**
 * Throws {@linkcode InvalidChunkError} when a chunk's data does not match
 * the SHA-512 its message declares.
 *
 * @example
 * ```ts
 * import { checkChunkHash, type FileChunk, InvalidChunkError } from "./chunk.ts";
 * declare const chunk: FileChunk;
 * try {
 *   checkChunkHash(chunk);
 * } catch (error) {
 *   if (error instanceof InvalidChunkError) console.log(error.message);
 * }
 * ```
 */
export function checkChunkHash(chunk: FileChunk): void {
  if (!sameBytes(sha512(chunk.data), chunk.chunkHash)) {
    throw new InvalidChunkError("chunk data does not match its SHA-512");
  }
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

/** Field 9: seconds since the epoch; missing, nil or 0.0 mean unknown. */
function optionalMtime(value: unknown): number | undefined {
  if (value === undefined || value === null || value === 0) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new InvalidChunkError("file_mtime is not a time in seconds");
  }
  return value;
}

/**
 * A name field: a string without control or format characters (which could
 * forge a log line, or hide or reverse part of a name), printed short in the
 * reason when refused.
 */
function requireName(value: unknown, field: string): string {
  const name = requireString(value, field);
  if (hasUnprintable(name)) {
    throw new InvalidChunkError(
      `${field} "${printableName(name)}" holds control or format characters`,
    );
  }
  return name;
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
