/**
 * The worker behind `planChunks`' second core: it keeps the SHA-512 of a
 * whole file while the main thread hashes each chunk of the same blocks.
 *
 * Messages in: a block (`{ buffer, length }`, the buffer transferred), then
 * `"digest"`. Messages out: each block's buffer, transferred back for reuse,
 * then the file's hash (a 64-byte `Uint8Array`). Started by
 * `planChunks` in file_chunks.ts; nothing else talks to it.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { createHash } from "node:crypto";

/** One block of the file, its buffer transferred here. */
interface Block {
  /** The bytes; the block is the first `length` of them. */
  buffer: ArrayBuffer;
  /** How many bytes of `buffer` are the file's. */
  length: number;
}

const fileHash = createHash("sha512");

self.onmessage = (event: MessageEvent<Block | "digest">) => {
  const message = event.data;
  if (message === "digest") {
    self.postMessage(new Uint8Array(fileHash.digest()));
    return;
  }
  fileHash.update(new Uint8Array(message.buffer, 0, message.length));
  self.postMessage(message.buffer, [message.buffer]);
};
