/**
 * A worker behind `planChunks`' first pass. Two of them share the blocks the
 * main thread reads: one keeps the SHA-512 of the whole file, the other
 * hashes each chunk of each block, so the two hashes run on two cores and
 * the main thread only reads.
 *
 * Messages in: first `{ blocks, chunkSize }` (the SharedArrayBuffer that
 * holds the blocks; `chunkSize` only for the chunk hasher), then a block at
 * a time (`{ slot, length, chunks }`: block `slot`, its first `length` bytes,
 * holding `chunks` chunks), then `"digest"` (whole-file hasher only).
 * Messages out: the whole-file hasher answers each block with its `slot`
 * (it may be read into again) and `"digest"` with the file's hash (64
 * bytes); the chunk hasher answers each block with `{ slot, hashes }`, the
 * 64-byte hashes of its chunks one after another. Started by `planChunks` in
 * file_chunks.ts; nothing else talks to it.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { createHash } from "node:crypto";

/** The first message: where the blocks are, and what to hash. */
interface Setup {
  /** Every block, one after another, each `blocks.byteLength / slots` bytes. */
  blocks: SharedArrayBuffer;
  /** How many blocks the buffer holds. */
  slots: number;
  /** Hash each chunk of this many bytes; absent: hash the whole file. */
  chunkSize?: number;
}

/** One block of the file, in the shared buffer. */
interface Block {
  /** Which block of the shared buffer. */
  slot: number;
  /** How many of its bytes are the file's. */
  length: number;
  /** How many chunks they hold (1 for an empty file). */
  chunks: number;
}

const fileHash = createHash("sha512");
let setup: Setup | undefined;

/** The SHA-512 of each chunk of a block, one after another. */
function hashChunks(data: Uint8Array, block: Block, chunkSize: number) {
  const hashes = new Uint8Array(block.chunks * 64);
  for (let i = 0; i < block.chunks; i++) {
    const piece = data.subarray(i * chunkSize, (i + 1) * chunkSize);
    hashes.set(createHash("sha512").update(piece).digest(), i * 64);
  }
  return hashes;
}

self.onmessage = (event: MessageEvent<Setup | Block | "digest">) => {
  const message = event.data;
  if (message === "digest") {
    self.postMessage(new Uint8Array(fileHash.digest()));
    return;
  }
  if ("blocks" in message) {
    setup = message;
    return;
  }
  const blockSize = setup!.blocks.byteLength / setup!.slots;
  const data = new Uint8Array(
    setup!.blocks,
    message.slot * blockSize,
    message.length,
  );
  if (setup!.chunkSize === undefined) {
    fileHash.update(data);
    self.postMessage(message.slot);
  } else {
    const hashes = hashChunks(data, message, setup!.chunkSize);
    // The hashes' buffer moves to the main thread, not copied.
    self.postMessage({ slot: message.slot, hashes }, [hashes.buffer]);
  }
};
