/**
 * Test bytes and the chunk messages a sender makes of them, for tests that
 * feed the assembler without Kafka.
 *
 * @example
 * ```ts
 * import { chunkMessages, randomBytes } from "./chunk_messages.ts";
 *
 * const messages = chunkMessages(randomBytes(5000), 1024); // 5 messages
 * ```
 */
import { encodeChunk, sha512 } from "../../lib/transfer/chunk.ts";

/**
 * `size` pseudo-random bytes (a fixed seed, so runs repeat): not compressible.
 *
 * @example
 * ```ts
 * const bytes = randomBytes(16385);
 * ```
 */
export function randomBytes(size: number, seed = size): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    // xorshift32: fast, reproducible, not compressible.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** What {@linkcode chunkMessages} names the file and declares as its hash. */
export interface ChunkMessageOptions {
  /** The file's name (default `scope.trc`, in subfolder `day1`). */
  filename?: string;
  /** The whole file's SHA-512 the messages declare (default: that of the bytes). */
  fileHash?: Uint8Array;
}

/**
 * The messages of `bytes` in chunks of `chunkSize`, in the real message
 * format, as a sender makes them (each chunk's own hash included).
 *
 * @example
 * ```ts
 * const [first] = chunkMessages(new Uint8Array(2048), 1024, { filename: "a.bin" });
 * ```
 */
export function chunkMessages(
  bytes: Uint8Array,
  chunkSize: number,
  options: ChunkMessageOptions = {},
): Uint8Array[] {
  const total = Math.ceil(bytes.length / chunkSize);
  const fileHash = options.fileHash ?? sha512(bytes);
  return Array.from({ length: total }, (_, i) => {
    const data = bytes.subarray(i * chunkSize, (i + 1) * chunkSize);
    return encodeChunk({
      filename: options.filename ?? "scope.trc",
      fileHash,
      chunkHash: sha512(data),
      offset: i * chunkSize,
      chunkIndex: i + 1,
      totalChunks: total,
      subdir: "day1",
      filenameAppend: "",
      data,
    });
  });
}
