/**
 * The worker behind `planChunks`' second core: it keeps the SHA-512 of a
 * whole file while the main thread hashes each chunk of the same blocks.
 *
 * Messages in: the SharedArrayBuffer that holds the blocks, then a block
 * (`{ slot, length }`: block `slot` of the buffer, its first `length` bytes)
 * at a time, then `"digest"`. Messages out: each block's `slot` once hashed
 * (it may be read into again), then the file's hash (64 bytes). Started by
 * `planChunks` in file_chunks.ts; nothing else talks to it.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { createHash } from "node:crypto";

/** One block of the file, in the shared buffer. */
interface Block {
  /** Which block of the shared buffer (each is `blockSize` bytes). */
  slot: number;
  /** How many of its bytes are the file's. */
  length: number;
}

const fileHash = createHash("sha512");
let blocks: SharedArrayBuffer | undefined;

self.onmessage = (
  event: MessageEvent<SharedArrayBuffer | Block | "digest">,
) => {
  const message = event.data;
  if (message instanceof SharedArrayBuffer) {
    blocks = message;
    return;
  }
  if (message === "digest") {
    self.postMessage(new Uint8Array(fileHash.digest()));
    return;
  }
  // Every block has the same size: the buffer's third.
  const blockSize = blocks!.byteLength / 3;
  fileHash.update(
    new Uint8Array(blocks!, message.slot * blockSize, message.length),
  );
  self.postMessage(message.slot);
};
