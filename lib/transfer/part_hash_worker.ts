/**
 * The worker behind `PartialHashes` (partial_files.ts): on a second core, it
 * keeps the SHA-512 of each big file being rebuilt, reading back from its
 * partial file the bytes the main thread has written (from the page cache:
 * no chunk bytes are posted or copied between threads).
 *
 * Messages in, handled in the order sent: `{ key, path, upTo }` hashes the
 * partial file `path` from where the hash of `key` stands to byte `upTo`
 * (-1: to its end); with `digest: true` it then answers `{ key, hash }` (the
 * 64 bytes, or undefined when a read failed, e.g. the file was removed) and
 * forgets the file; `{ key, drop: true }` forgets it without answering.
 * Started by `PartialHashes`; nothing else talks to it.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { createHash, type Hash } from "node:crypto";
import { setPriority } from "node:os";

/**
 * This thread's nice value. The main thread handles every message and is the
 * rebuild's narrowest point: on two cores shared with the broker and V8's
 * collector threads it waited 0.46 s for a core in a 2.5 s rebuild at 16 KiB
 * (schedstat, issue 22). At nice 10 this worker yields a core to it and
 * still keeps up (it hashes at 440 MB/s, twice the rebuild's pace). On Linux
 * the nice value is per thread: the main thread keeps its own.
 */
const NICE = 10;
try {
  setPriority(NICE);
} catch {
  // Without --allow-sys=setPriority (or where it is refused): as it is.
}

/** What the main thread asks. */
interface Request {
  /** The file version's key. */
  key: string;
  /** Its partial file. */
  path?: string;
  /** Hash up to this byte (-1: to the end). */
  upTo?: number;
  /** Answer with the hash, then forget the file. */
  digest?: boolean;
  /** Forget the file (given up or rejected). */
  drop?: boolean;
}

/** One file's hash so far. */
interface Running {
  hash: Hash;
  /** Bytes hashed. */
  position: number;
  handle?: Deno.FsFile;
  /** A read failed: no hash can be given. */
  failed: boolean;
}

/** Bytes read back at once. */
const READ_BYTES = 1024 * 1024;
const buffer = new Uint8Array(READ_BYTES);
const files = new Map<string, Running>();

/** Reads and hashes `file` from where it stands to `upTo` (-1: the end). */
function hashTo(file: Running, path: string, upTo: number): void {
  if (file.failed) return;
  try {
    file.handle ??= Deno.openSync(path, { read: true });
    file.handle.seekSync(file.position, Deno.SeekMode.Start);
    while (upTo < 0 || file.position < upTo) {
      const want = upTo < 0
        ? READ_BYTES
        : Math.min(READ_BYTES, upTo - file.position);
      const n = file.handle.readSync(buffer.subarray(0, want));
      if (n === null) break;
      file.hash.update(buffer.subarray(0, n));
      file.position += n;
    }
  } catch {
    file.failed = true;
  }
}

/** Closes and forgets a file. */
function forget(key: string): void {
  files.get(key)?.handle?.close();
  files.delete(key);
}

self.onmessage = (event: MessageEvent<Request>) => {
  const { key, path, upTo, digest, drop } = event.data;
  if (drop) return forget(key);
  let file = files.get(key);
  if (!file) {
    file = { hash: createHash("sha512"), position: 0, failed: false };
    files.set(key, file);
  }
  if (path !== undefined && upTo !== undefined) hashTo(file, path, upTo);
  if (!digest) return;
  forget(key);
  const hash = file.failed ? undefined : new Uint8Array(file.hash.digest());
  self.postMessage({ key, hash });
};
