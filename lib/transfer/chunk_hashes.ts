/**
 * The SHA-512 of each chunk of a block read from a file, by node:crypto:
 * what the upload's first pass computes on its worker for small chunks
 * (file_hash_worker.ts), and on the main thread for big ones
 * (file_chunks.ts). A module of its own, with nothing but node:crypto, so
 * that the worker loads no more than it needs.
 *
 * @example
 * ```ts
 * import { hashEachChunk } from "./chunk_hashes.ts";
 *
 * const block = new Uint8Array(1024 * 1024);
 * const hashes = hashEachChunk(block, 16384); // 64 chunks: 4096 bytes
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";

/** Bytes in a SHA-512. */
const HASH_BYTES = 64;

/**
 * The 64-byte SHA-512 of each `chunkSize` piece of `block` (the last may be
 * shorter), back to back. Each `createHash` leaves about 200 bytes outside
 * V8's heap until a full collection: a caller that hashes many small chunks
 * on a thread with little other garbage collects now and then
 * (file_hash_worker.ts does).
 *
 * @example
 * ```ts
 * import { hashEachChunk } from "./chunk_hashes.ts";
 *
 * const hashes = hashEachChunk(new Uint8Array(3 * 1024), 1024);
 * console.log(hashes.length); // 192
 * ```
 */
export function hashEachChunk(
  block: Uint8Array,
  chunkSize: number,
): Uint8Array<ArrayBuffer> {
  const count = Math.ceil(block.length / chunkSize);
  const hashes = new Uint8Array(count * HASH_BYTES);
  for (let i = 0; i < count; i++) {
    const chunk = block.subarray(i * chunkSize, (i + 1) * chunkSize);
    hashes.set(createHash("sha512").update(chunk).digest(), i * HASH_BYTES);
  }
  return hashes;
}
