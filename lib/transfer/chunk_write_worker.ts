/**
 * The worker behind `ChunkWrites` (chunk_writes.ts): on a second core, it
 * checks each chunk of a big file against its SHA-512 and, only if it
 * matches, writes it into its partial file with one positioned write
 * (pwrite), so the main thread keeps reading and decoding meanwhile.
 *
 * Messages in, handled in the order sent: `{ id, path, offset, data, hash }`
 * checks and writes one chunk (its data's buffer transferred, not copied)
 * and answers `{ id }`, `{ id, mismatch: true }` (nothing written) or
 * `{ id, error }` (the write failed: the system's message, e.g. a full
 * disk); `{ id, close: path }` closes the file's handle and answers `{ id }`
 * (every write posted before it is then done). Started by `ChunkWrites`;
 * nothing else talks to it.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { createHash } from "node:crypto";
import { closeSync, constants, openSync, writeSync } from "node:fs";

/** What the main thread asks. */
interface Request {
  /** Answered with the same id. */
  id: number;
  /** The partial file to write into. */
  path?: string;
  /** Where the chunk goes in it. */
  offset?: number;
  /** The chunk's bytes. */
  data?: Uint8Array;
  /** The SHA-512 its data must have. */
  hash?: Uint8Array;
  /** Close this partial file's handle. */
  close?: string;
}

/** Open partial files kept at once; the oldest is closed when more open. */
const MAX_OPEN_FILES = 32;
/** Opened for writing, created if missing, never truncated. */
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT;
const open = new Map<string, number>();

/** Whether `data`'s SHA-512 is `hash`. */
function matches(data: Uint8Array, hash: Uint8Array): boolean {
  const actual = createHash("sha512").update(data).digest();
  if (actual.length !== hash.length) return false;
  for (let i = 0; i < hash.length; i++) {
    if (actual[i] !== hash[i]) return false;
  }
  return true;
}

/** The open descriptor of `path`, opened (and the oldest closed) if needed. */
function descriptor(path: string): number {
  let fd = open.get(path);
  if (fd === undefined) {
    if (open.size >= MAX_OPEN_FILES) {
      const [oldestPath, oldest] = open.entries().next().value!;
      closeSync(oldest);
      open.delete(oldestPath);
    }
    fd = openSync(path, WRITE_FLAGS);
    open.set(path, fd);
  }
  return fd;
}

/** Writes all of `data` at `offset` of `path`. */
function writeAt(path: string, offset: number, data: Uint8Array): void {
  const fd = descriptor(path);
  for (let done = 0; done < data.length;) {
    done += writeSync(fd, data, done, data.length - done, offset + done);
  }
}

/** Closes the handle of `path`, if open. */
function closeFile(path: string): void {
  const fd = open.get(path);
  open.delete(path);
  if (fd !== undefined) closeSync(fd);
}

self.onmessage = (event: MessageEvent<Request>) => {
  const { id, path, offset, data, hash, close } = event.data;
  try {
    if (close !== undefined) {
      closeFile(close);
    } else if (!matches(data!, hash!)) {
      return self.postMessage({ id, mismatch: true });
    } else {
      writeAt(path!, offset!, data!);
    }
    self.postMessage({ id });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    self.postMessage({ id, error: message });
  }
};
