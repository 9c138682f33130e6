/**
 * A worker behind `planChunks`' first pass over a big file. Two of them read
 * the file on their own, one keeping the SHA-512 of the whole file, the other
 * hashing each chunk, so the two hashes run on two cores and the main thread
 * is free meanwhile (to load the Kafka client and connect, then to send).
 *
 * One message in: `{ path, blockBytes }` (whole-file hasher) or
 * `{ path, blockBytes, chunkSize }` (chunk hasher); the file is read
 * `blockBytes` at a time, a whole number of chunks. Messages out: the chunk
 * hasher posts `{ first, hashes }` after each block (the 64-byte hashes of
 * its chunks one after another, the first being chunk `first`, 0-based);
 * both end with `{ bytes, hash? }` (the bytes read to the end of the file,
 * and the whole-file hasher's 64-byte hash) or `{ error, gone }` (a read
 * failed; `gone`: the file was deleted), then close. Started by `planChunks`
 * in file_chunks.ts; nothing else talks to it.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { createHash } from "node:crypto";
import { readFullSync } from "../common/read_full.ts";

/** The one message: what to read, and what to hash. */
interface Request {
  /** The file. */
  path: string;
  /** Bytes read at once (a whole number of chunks). */
  blockBytes: number;
  /** Hash each chunk of this many bytes; absent: hash the whole file. */
  chunkSize?: number;
}

/** The 64-byte SHA-512 of each `chunkSize` piece of `data`, back to back. */
function hashChunks(
  data: Uint8Array,
  chunkSize: number,
): Uint8Array<ArrayBuffer> {
  const count = Math.ceil(data.length / chunkSize);
  const hashes = new Uint8Array(count * 64);
  for (let i = 0; i < count; i++) {
    const piece = data.subarray(i * chunkSize, (i + 1) * chunkSize);
    hashes.set(createHash("sha512").update(piece).digest(), i * 64);
  }
  return hashes;
}

/** Reads the whole file once, hashing it as asked, and says what it found. */
function hashFile({ path, blockBytes, chunkSize }: Request): void {
  const fileHash = createHash("sha512");
  const block = new Uint8Array(blockBytes);
  let bytes = 0;
  using file = Deno.openSync(path, { read: true });
  while (true) {
    const length = readFullSync(file, block);
    if (length === 0) break;
    const data = block.subarray(0, length);
    if (chunkSize === undefined) fileHash.update(data);
    else {
      const hashes = hashChunks(data, chunkSize);
      // The hashes' buffer moves to the main thread, not copied.
      self.postMessage({ first: bytes / chunkSize, hashes }, [hashes.buffer]);
    }
    bytes += length;
    if (length < block.length) break;
  }
  const hash = chunkSize === undefined
    ? new Uint8Array(fileHash.digest())
    : undefined;
  self.postMessage({ bytes, hash });
}

self.onmessage = (event: MessageEvent<Request>) => {
  try {
    hashFile(event.data);
  } catch (error) {
    // A file deleted since the first pass opened it is the user's doing.
    const gone = error instanceof Deno.errors.NotFound;
    self.postMessage({ error: String(error), gone });
  }
  self.close();
};
