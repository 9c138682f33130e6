/**
 * lz4 compression for kafkajs, in the frame layout Kafka accepts.
 *
 * kafkajs knows only gzip; other codecs are plugged in. Kafka's lz4 is the
 * standard LZ4 frame format with independent blocks. The block compressor is
 * written here from the LZ4 block format description, because the one in the
 * `lz4js` package breaks the format's end-of-block rule: its last match may
 * start 10 or 11 bytes before the end of a block, where the format demands at
 * least 12 (`MFLIMIT`). The reference decoder (liblz4, which Kafka's broker
 * and librdkafka use) then fails on full 64 KiB blocks with "Error decoding
 * offset", so the broker refused compressible data. `lz4js` is kept for its
 * xxHash32, which the frame's checksums use.
 *
 * The frames written: version 01, independent blocks, 64 KiB blocks, a
 * content checksum; a block that does not shrink is stored as is. The reader
 * accepts every option other producers set (content size, block and content
 * checksums, dictionary id, any block size), checks every checksum, and never
 * writes or allocates past the block size the frame declares.
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
import { hash as lz4jsXxh32 } from "lz4js/xxh32.js";

/** Frame magic number. */
const MAGIC = 0x184d2204;
/** Frame descriptor FLG bits. */
const FLAG_VERSION_01 = 0x40;
const FLAG_INDEPENDENT_BLOCKS = 0x20;
const FLAG_BLOCK_CHECKSUM = 0x10;
const FLAG_CONTENT_SIZE = 0x08;
const FLAG_CONTENT_CHECKSUM = 0x04;
const FLAG_DICTIONARY_ID = 0x01;
/** BD byte for 64 KiB blocks (code 4 in bits 4-6). */
const BD_64K = 0x40;
/** The block size this module writes. */
const BLOCK_BYTES = 64 * 1024;
/** A block stored as is (it did not get smaller) has this bit in its size. */
const UNCOMPRESSED_BIT = 0x80000000;
/** Block maximum sizes by descriptor code 4..7. */
const BLOCK_SIZES: Record<number, number> = {
  4: 64 * 1024,
  5: 256 * 1024,
  6: 1024 * 1024,
  7: 4 * 1024 * 1024,
};
/** Block format rules: matches are at least 4 bytes long... */
const MIN_MATCH = 4;
/** ...the last 5 bytes of a block are always literals... */
const LAST_LITERALS = 5;
/** ...and the last match starts at least 12 bytes before the block's end. */
const MF_LIMIT = 12;
/** Matches reach back at most this far. */
const MAX_OFFSET = 65535;
/** Match table: 2^HASH_BITS entries. */
const HASH_BITS = 14;

/** An LZ4 frame that cannot be read; the message says why. */
export class Lz4FormatError extends Error {
  /** Makes one with a reason. */
  constructor(message: string) {
    super(`LZ4 frame: ${message}`);
    this.name = "Lz4FormatError";
  }
}

/**
 * xxHash32 (seed 0) of some bytes, as the LZ4 frame checksums use it.
 *
 * @example
 * ```ts
 * xxh32(new Uint8Array()); // 0x02cc5d05
 * ```
 */
export function xxh32(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
): number {
  return lz4jsXxh32(0, bytes, start, end - start) >>> 0;
}

/** Little-endian 32-bit word at `i`. */
function read32(bytes: Uint8Array, i: number): number {
  return bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) |
    (bytes[i + 3] << 24);
}

/** Writes a length continuation (bytes of 255, then the rest). */
function writeLength(out: Uint8Array, at: number, length: number): number {
  let rest = length;
  while (rest >= 255) {
    out[at++] = 255;
    rest -= 255;
  }
  out[at++] = rest;
  return at;
}

/** Writes one sequence: token, literals, and (if `matchLength`) the match. */
function writeSequence(
  out: Uint8Array,
  at: number,
  src: Uint8Array,
  literalStart: number,
  literalEnd: number,
  offset: number,
  matchLength: number,
): number {
  const literals = literalEnd - literalStart;
  const extra = matchLength - MIN_MATCH;
  const token = at++;
  out[token] = (Math.min(literals, 15) << 4) |
    (matchLength > 0 ? Math.min(extra, 15) : 0);
  if (literals >= 15) at = writeLength(out, at, literals - 15);
  out.set(src.subarray(literalStart, literalEnd), at);
  at += literals;
  if (matchLength === 0) return at;
  out[at++] = offset & 0xff;
  out[at++] = offset >> 8;
  if (extra >= 15) at = writeLength(out, at, extra - 15);
  return at;
}

/**
 * Compresses `src[start, end)` as one independent LZ4 block into `out` at
 * `at`; returns where it ended. `table` is the match table, shared between
 * blocks: entries before `start` are ignored, so blocks stay independent.
 */
function compressBlock(
  src: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  at: number,
  table: Int32Array,
): number {
  let anchor = start;
  const lastMatchStart = end - MF_LIMIT;
  const matchLimit = end - LAST_LITERALS;
  let i = start;
  while (i <= lastMatchStart) {
    const word = read32(src, i);
    const slot = Math.imul(word, 2654435761) >>> (32 - HASH_BITS);
    const candidate = table[slot];
    table[slot] = i;
    if (
      candidate < start || i - candidate > MAX_OFFSET ||
      read32(src, candidate) !== word
    ) {
      // Skip faster through data that does not compress.
      i += 1 + ((i - anchor) >> 6);
      continue;
    }
    let length = MIN_MATCH;
    while (
      i + length < matchLimit && src[i + length] === src[candidate + length]
    ) {
      length++;
    }
    at = writeSequence(out, at, src, anchor, i, i - candidate, length);
    i += length;
    anchor = i;
  }
  return writeSequence(out, at, src, anchor, end, 0, 0);
}

/**
 * Compresses `data` into one LZ4 frame: independent 64 KiB blocks and a
 * content checksum.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("abcabcabcabcabcabcabcabc");
 * decompressFrame(compressFrame(bytes)); // the same bytes
 * ```
 */
export function compressFrame(data: Uint8Array): Uint8Array {
  const blocks = Math.ceil(data.length / BLOCK_BYTES);
  const out = new Uint8Array(
    7 + data.length + Math.ceil(data.length / 255) + 20 * blocks + 8,
  );
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  out[4] = FLAG_VERSION_01 | FLAG_INDEPENDENT_BLOCKS | FLAG_CONTENT_CHECKSUM;
  out[5] = BD_64K;
  out[6] = (xxh32(out, 4, 6) >>> 8) & 0xff;
  let at = 7;
  const table = new Int32Array(1 << HASH_BITS).fill(-1);
  for (let start = 0; start < data.length; start += BLOCK_BYTES) {
    const end = Math.min(start + BLOCK_BYTES, data.length);
    const blockAt = at + 4;
    const blockEnd = compressBlock(data, start, end, out, blockAt, table);
    if (blockEnd - blockAt >= end - start) {
      view.setUint32(at, ((end - start) | UNCOMPRESSED_BIT) >>> 0, true);
      out.set(data.subarray(start, end), blockAt);
      at = blockAt + end - start;
    } else {
      view.setUint32(at, blockEnd - blockAt, true);
      at = blockEnd;
    }
  }
  view.setUint32(at, 0, true);
  view.setUint32(at + 4, xxh32(data), true);
  return out.slice(0, at + 8);
}

/**
 * Decodes one LZ4 block from `src[start, end)` into `out` from `at`, never
 * past `outEnd`; returns where the output ended.
 */
function decompressBlock(
  src: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  at: number,
  outEnd: number,
): number {
  const outStart = at;
  let i = start;
  const readLength = (base: number): number => {
    let length = base;
    if (base !== 15) return length;
    while (true) {
      if (i >= end) throw new Lz4FormatError("block ends inside a length");
      const byte = src[i++];
      length += byte;
      if (byte !== 255) return length;
    }
  };
  while (i < end) {
    const token = src[i++];
    const literals = readLength(token >> 4);
    if (i + literals > end || at + literals > outEnd) {
      throw new Lz4FormatError("literals run past the block");
    }
    out.set(src.subarray(i, i + literals), at);
    i += literals;
    at += literals;
    if (i === end) break;
    if (i + 2 > end) throw new Lz4FormatError("block ends inside an offset");
    const offset = src[i] | (src[i + 1] << 8);
    i += 2;
    const length = readLength(token & 15) + MIN_MATCH;
    if (offset === 0 || offset > at - outStart) {
      throw new Lz4FormatError("a match refers to before the block");
    }
    if (at + length > outEnd) {
      throw new Lz4FormatError("a match runs past the block");
    }
    for (let from = at - offset, stop = at + length; at < stop;) {
      out[at++] = out[from++];
    }
  }
  return at;
}

/**
 * Decompresses one LZ4 frame (any block size, with or without checksums,
 * content size or dictionary id), checking the header checksum, each block's
 * size and checksum, the end mark and the content checksum. Throws
 * {@linkcode Lz4FormatError} for a frame that breaks any of them.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("abcabcabcabcabcabcabcabc");
 * decompressFrame(compressFrame(bytes)); // bytes again
 * ```
 */
export function decompressFrame(frame: Uint8Array): Uint8Array {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const need = (at: number, bytes: number, what: string) => {
    if (at + bytes > frame.length) {
      throw new Lz4FormatError(`cut off in ${what}`);
    }
  };
  need(0, 7, "the header");
  if (view.getUint32(0, true) !== MAGIC) {
    throw new Lz4FormatError("wrong magic number");
  }
  const flags = frame[4];
  if ((flags & 0xc0) !== FLAG_VERSION_01) {
    throw new Lz4FormatError("unknown version");
  }
  const blockMax = BLOCK_SIZES[(frame[5] >> 4) & 7];
  if (blockMax === undefined) throw new Lz4FormatError("bad block size code");
  const headerEnd = 6 + (flags & FLAG_CONTENT_SIZE ? 8 : 0) +
    (flags & FLAG_DICTIONARY_ID ? 4 : 0);
  need(0, headerEnd + 1, "the header");
  if (frame[headerEnd] !== ((xxh32(frame, 4, headerEnd) >>> 8) & 0xff)) {
    throw new Lz4FormatError("header checksum mismatch");
  }
  let at = headerEnd + 1;
  const blocks: Uint8Array[] = [];
  let total = 0;
  const scratch = new Uint8Array(blockMax);
  while (true) {
    need(at, 4, "a block size");
    const word = view.getUint32(at, true);
    at += 4;
    if (word === 0) break;
    const size = (word & ~UNCOMPRESSED_BIT) >>> 0;
    if (size > blockMax) {
      throw new Lz4FormatError(`a block of ${size} bytes exceeds ${blockMax}`);
    }
    need(at, size + (flags & FLAG_BLOCK_CHECKSUM ? 4 : 0), "a block");
    if (
      flags & FLAG_BLOCK_CHECKSUM &&
      view.getUint32(at + size, true) !== xxh32(frame, at, at + size)
    ) {
      throw new Lz4FormatError("block checksum mismatch");
    }
    let block: Uint8Array;
    if (word & UNCOMPRESSED_BIT) {
      block = frame.slice(at, at + size);
    } else {
      const end = decompressBlock(frame, at, at + size, scratch, 0, blockMax);
      block = scratch.slice(0, end);
    }
    at += size + (flags & FLAG_BLOCK_CHECKSUM ? 4 : 0);
    blocks.push(block);
    total += block.length;
  }
  const result = new Uint8Array(total);
  let offset = 0;
  for (const block of blocks) {
    result.set(block, offset);
    offset += block.length;
  }
  if (flags & FLAG_CONTENT_CHECKSUM) {
    need(at, 4, "the content checksum");
    if (view.getUint32(at, true) !== xxh32(result)) {
      throw new Lz4FormatError("content checksum mismatch");
    }
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
