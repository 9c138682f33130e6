/**
 * lz4 compression for kafkajs, in the frame layout Kafka accepts.
 *
 * kafkajs knows only gzip; other codecs are plugged in. Kafka's lz4 is the
 * standard LZ4 frame format with independent blocks: Java's reader refuses a
 * frame whose blocks refer back to earlier blocks ("Dependent block stream is
 * unsupported"), which is what the `lz4js` package's own `compress` writes. So
 * this module builds the frame itself from `lz4js`'s block compressor, one
 * fresh match table per 64 KiB block. Reading uses `lz4js`'s block decoder
 * too, with a frame reader that accepts every option other producers set
 * (content size, block and content checksums).
 *
 * @example
 * ```ts
 * import { lz4Codec } from "./lz4_codec.ts";
 * import { CompressionCodecs, CompressionTypes } from "kafkajs";
 *
 * CompressionCodecs[CompressionTypes.LZ4] = lz4Codec;
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as lz4 from "lz4js";
import { hash as xxh32 } from "lz4js/xxh32.js";

/** Frame magic number, "version 01, independent blocks", 64 KiB blocks. */
const MAGIC = 0x184d2204;
const FLAGS_INDEPENDENT_BLOCKS = 0x60;
const BLOCK_MAX_64K = 0x40;
const BLOCK_BYTES = 64 * 1024;
/** A block stored as is (it did not get smaller) has this bit in its size. */
const UNCOMPRESSED_BIT = 0x80000000;
/** Frame descriptor flags. */
const FLAG_BLOCK_CHECKSUM = 0x10;
const FLAG_CONTENT_SIZE = 0x08;
const FLAG_CONTENT_CHECKSUM = 0x04;
const FLAG_DICTIONARY_ID = 0x01;
/** Block maximum sizes by descriptor code 4..7. */
const BLOCK_SIZES: Record<number, number> = {
  4: 64 * 1024,
  5: 256 * 1024,
  6: 1024 * 1024,
  7: 4 * 1024 * 1024,
};
/** lz4js's match table size. */
const HASH_ENTRIES = 1 << 16;

/**
 * Compresses `data` into one LZ4 frame with independent blocks.
 *
 * @example
 * ```ts
 * const frame = compressFrame(new TextEncoder().encode("aaaaaaaaaaaaaaaa"));
 * lz4.decompress(frame); // the same bytes
 * ```
 */
export function compressFrame(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(
    7 + lz4.compressBound(data.length) +
      4 * Math.ceil(data.length / BLOCK_BYTES) + 4,
  );
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  out[4] = FLAGS_INDEPENDENT_BLOCKS;
  out[5] = BLOCK_MAX_64K;
  out[6] = (xxh32(0, out, 4, 2) >> 8) & 0xff;
  let at = 7;
  const scratch = new Uint8Array(lz4.compressBound(BLOCK_BYTES));
  for (let start = 0; start < data.length; start += BLOCK_BYTES) {
    const block = data.subarray(start, start + BLOCK_BYTES);
    const size = lz4.compressBlock(
      block,
      scratch,
      0,
      block.length,
      new Uint32Array(HASH_ENTRIES),
    );
    if (size === 0 || size >= block.length) {
      view.setUint32(at, (block.length | UNCOMPRESSED_BIT) >>> 0, true);
      out.set(block, at + 4);
      at += 4 + block.length;
    } else {
      view.setUint32(at, size, true);
      out.set(scratch.subarray(0, size), at + 4);
      at += 4 + size;
    }
  }
  view.setUint32(at, 0, true);
  return out.subarray(0, at + 4);
}

/**
 * Decompresses one LZ4 frame (any block size, with or without checksums,
 * content size or dictionary id).
 *
 * @example
 * ```ts
 * decompressFrame(compressFrame(bytes)); // bytes again
 * ```
 */
export function decompressFrame(frame: Uint8Array): Uint8Array {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (frame.length < 7 || view.getUint32(0, true) !== MAGIC) {
    throw new Error("not an LZ4 frame");
  }
  const flags = frame[4];
  const blockMax = BLOCK_SIZES[(frame[5] >> 4) & 7];
  if (blockMax === undefined) throw new Error("bad LZ4 block size");
  let at = 6 + (flags & FLAG_CONTENT_SIZE ? 8 : 0) +
    (flags & FLAG_DICTIONARY_ID ? 4 : 0) + 1;
  const blocks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const word = view.getUint32(at, true);
    at += 4;
    if (word === 0) break;
    const size = word & ~UNCOMPRESSED_BIT;
    let block: Uint8Array;
    if (word & UNCOMPRESSED_BIT) {
      block = frame.slice(at, at + size);
    } else {
      const out = new Uint8Array(blockMax);
      const end = lz4.decompressBlock(frame, out, at, size, 0);
      block = out.subarray(0, end);
    }
    at += size + (flags & FLAG_BLOCK_CHECKSUM ? 4 : 0);
    blocks.push(block);
    total += block.length;
  }
  if (flags & FLAG_CONTENT_CHECKSUM) at += 4;
  const result = new Uint8Array(total);
  let offset = 0;
  for (const block of blocks) {
    result.set(block, offset);
    offset += block.length;
  }
  return result;
}

/**
 * The codec object kafkajs expects in `CompressionCodecs[CompressionTypes.LZ4]`.
 *
 * @example
 * ```ts
 * const codec = lz4Codec();
 * ```
 */
export function lz4Codec(): {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
} {
  return {
    compress: (encoder) =>
      Promise.resolve(Buffer.from(compressFrame(encoder.buffer))),
    decompress: (buffer) =>
      Promise.resolve(Buffer.from(decompressFrame(buffer))),
  };
}
