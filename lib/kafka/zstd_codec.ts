/**
 * Reading zstd-compressed batches (Kafka's `compression.type = zstd`).
 *
 * kafkajs has no zstd codec of its own; other producers (kcat, the Java
 * client, OpenMSIStream with that setting) may send zstd batches, which the
 * reconstructor must read. Decompression uses `fzstd`, a pure-JavaScript
 * decoder (no native addon, so no extra Deno permissions). The tools do not
 * write zstd: there is no kept pure-JavaScript zstd compressor, and lz4 or
 * snappy do the job. A frame that announces more than
 * {@linkcode MAX_ZSTD_FRAME_BYTES} is refused before anything is allocated.
 *
 * @example
 * ```ts
 * import { zstdCodec } from "./zstd_codec.ts";
 * import { CompressionCodecs, CompressionTypes } from "kafkajs";
 *
 * CompressionCodecs[CompressionTypes.ZSTD] = zstdCodec;
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { decompress } from "fzstd";

/** zstd frame magic number. */
const MAGIC = 0xfd2fb528;

/**
 * The largest batch content a frame may announce: far above what a fetch
 * returns (`fetch.max.bytes`), far below what would exhaust memory.
 */
export const MAX_ZSTD_FRAME_BYTES = 256 * 1024 * 1024;

/**
 * The content size a zstd frame header announces, or undefined when the
 * frame does not say (or is not a zstd frame).
 *
 * @example
 * ```ts
 * announcedSize(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x05])); // 5
 * ```
 */
export function announcedSize(frame: Uint8Array): number | undefined {
  if (frame.length < 6) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint32(0, true) !== MAGIC) return undefined;
  const descriptor = frame[4];
  const sizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictionaryBytes = [0, 1, 2, 4][descriptor & 3];
  const at = 5 + (singleSegment ? 0 : 1) + dictionaryBytes;
  const sizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][sizeFlag];
  if (sizeBytes === 0 || at + sizeBytes > frame.length) return undefined;
  if (sizeBytes === 1) return frame[at];
  if (sizeBytes === 2) return view.getUint16(at, true) + 256;
  if (sizeBytes === 4) return view.getUint32(at, true);
  return Number(view.getBigUint64(at, true));
}

/**
 * Decompresses a zstd batch; refuses one announcing more than
 * {@linkcode MAX_ZSTD_FRAME_BYTES}.
 *
 * @example
 * ```ts
 * import { Buffer } from "node:buffer";
 * const frame = Buffer.from("KLUv/QRYKQAAaGVsbG+jbZ+I", "base64"); // "hello"
 * decompressZstd(frame); // the bytes of "hello"
 * ```
 */
export function decompressZstd(frame: Uint8Array): Uint8Array {
  const size = announcedSize(frame);
  if (size !== undefined && size > MAX_ZSTD_FRAME_BYTES) {
    throw new Error(
      `zstd frame announces ${size} bytes, more than ${MAX_ZSTD_FRAME_BYTES}`,
    );
  }
  return decompress(frame);
}

/**
 * The codec object kafkajs expects in `CompressionCodecs[CompressionTypes.ZSTD]`:
 * it reads zstd batches; writing them is refused with a one-line reason.
 *
 * @example
 * ```ts
 * const codec = zstdCodec();
 * ```
 */
export function zstdCodec(): {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
} {
  return {
    compress: () =>
      Promise.reject(
        new Error("writing zstd is not supported; use lz4, snappy or gzip"),
      ),
    decompress: (buffer) =>
      Promise.resolve(Buffer.from(decompressZstd(buffer))),
  };
}
