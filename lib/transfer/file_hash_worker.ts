/**
 * The worker behind `planChunks`' first pass over a big file in small
 * chunks (below 128 KiB): it reads the file on its own and hashes each
 * chunk, while the whole file is hashed by openssl or on the main thread,
 * so the two SHA-512 passes the message format asks for run on two cores.
 *
 * One message in: `{ path, blockBytes, chunkSize }`; the file is read
 * `blockBytes` at a time, a whole number of chunks. Messages out:
 * `{ first, hashes }` after each block (the 64-byte hashes of its chunks one
 * after another, the first being chunk `first`, 0-based), then
 * `{ bytes }` (the bytes read to the end of the file) or `{ error, gone }`
 * (a read failed; `gone`: the file was deleted), then it closes. Started by
 * `planChunks` in file_chunks.ts; nothing else talks to it.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { hashEachChunk } from "./chunk_hashes.ts";
import { readFullSync } from "../common/read_full.ts";

/** The one message: what to read, and in what pieces. */
interface Request {
  /** The file. */
  path: string;
  /** Bytes read at once (a whole number of chunks). */
  blockBytes: number;
  /** Bytes in each chunk hashed (the last may be shorter). */
  chunkSize: number;
}

/**
 * Chunks hashed between two full garbage collections of this worker. Each
 * `createHash` leaves about 200 bytes outside V8's heap, freed only by a full
 * collection, and this worker makes too little garbage for V8 to start one:
 * 49 MB waited to the end of a 4 GiB file at 16 KiB. A collection of this
 * small heap per 4096 hashes (800 KB) takes no time that shows: 256 of them
 * over 4 GiB hashed at 16 KiB, 7.7 s against 7.8 without (issue 22).
 */
const HASHES_PER_COLLECTION = 4096;
let hashesSinceCollection = 0;

/** A full collection of this worker's heap, where the task exposes `gc`. */
function collectHashLeftovers(): void {
  // The upload tasks run with --v8-flags=...,--expose-gc; without it (a test,
  // a `deno run` by hand) nothing happens but the leftovers wait.
  const gc = (globalThis as { gc?: (options: { type: "major" }) => void }).gc;
  gc?.({ type: "major" });
}

/**
 * Counts `hashes` made, and runs a full collection after every
 * {@linkcode HASHES_PER_COLLECTION}.
 */
function countHashes(hashes: number): void {
  hashesSinceCollection += hashes;
  if (hashesSinceCollection < HASHES_PER_COLLECTION) return;
  hashesSinceCollection = 0;
  collectHashLeftovers();
}

/** Reads the whole file once, posting each block's chunk hashes. */
function hashFile({ path, blockBytes, chunkSize }: Request): void {
  const block = new Uint8Array(blockBytes);
  let bytes = 0;
  using file = Deno.openSync(path, { read: true });
  while (true) {
    const length = readFullSync(file, block);
    if (length === 0) break;
    // node:crypto, not WebCrypto as on the main thread for small files:
    // WebCrypto made a 512 MiB first pass 0.2-0.3 s slower (issue 22).
    const hashes = hashEachChunk(block.subarray(0, length), chunkSize);
    countHashes(hashes.length / 64);
    // The hashes' buffer moves to the main thread, not copied.
    self.postMessage({ first: bytes / chunkSize, hashes }, [hashes.buffer]);
    bytes += length;
    if (length < block.length) break;
  }
  self.postMessage({ bytes });
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
