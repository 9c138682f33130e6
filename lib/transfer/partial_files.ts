/**
 * The partial files of a rebuild: one per file in progress, written at each
 * chunk's offset through a handle kept open while its chunks arrive (at most
 * a few dozen at once), and hashed as a stream when read back, or for big
 * files on a worker as their chunks reach disk (`PartialHashes`).
 *
 * @example
 * ```ts
 * import { hashFile, PartialFiles } from "./partial_files.ts";
 *
 * await Deno.mkdir("out/partial", { recursive: true });
 * const partials = new PartialFiles("out/partial");
 * await partials.writeAt("k1", 0, new TextEncoder().encode("hello"));
 * partials.close("k1");
 * console.log(await hashFile(partials.path("k1")));
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  constants,
  openSync,
  readSync,
  write,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { readFull } from "../common/read_full.ts";

/** Open partial files kept at once; older ones are closed and reopened later. */
const MAX_OPEN_FILES = 32;

/** Chunks up to this size are written synchronously (see writeAt). */
const SYNC_WRITE_BYTES = 64 * 1024;

/** Opened for writing, created if missing, never truncated. */
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT;

/** Partial files in one folder, `<key>.part`, with their open handles. */
export class PartialFiles {
  readonly #folder: string;
  /** Each open partial file's descriptor. */
  readonly #open = new Map<string, number>();
  /**
   * Descriptors with an async write not yet done, and its end: closed only
   * after it (a number closed and reused meanwhile would take the write into
   * another file).
   */
  readonly #busy = new Map<number, Promise<unknown>>();

  /** Partial files go in `folder` (which must exist). */
  constructor(folder: string) {
    this.#folder = folder;
  }

  /** The partial file of the file version `key`. */
  path(key: string): string {
    return join(this.#folder, `${key}.part`);
  }

  /**
   * Writes bytes at an offset of a partial file: one positioned write
   * (pwrite), no seek, whatever was written before.
   */
  async writeAt(key: string, offset: number, data: Uint8Array): Promise<void> {
    // A small chunk is copied into the page cache faster than an async
    // write answers (at 16 KiB the rebuild sat idle 60% of the time waiting
    // for the answers).
    if (data.length <= SYNC_WRITE_BYTES) this.writeAtSync(key, offset, data);
    else await this.writeAtAsync(key, offset, data);
  }

  /** Like {@linkcode writeAt}, on this thread whatever the size. */
  writeAtSync(key: string, offset: number, data: Uint8Array): void {
    const fd = this.#descriptor(key);
    for (let done = 0; done < data.length;) {
      done += writeSync(fd, data, done, data.length - done, offset + done);
    }
  }

  /**
   * Like {@linkcode writeAt}, as an async write whatever the size: node:fs's
   * callback `write`, which Deno runs as a deferred operation (after the
   * current step of this thread). Deno's own `FsFile.write`, which copies on
   * another thread, made the 16 KiB rebuild three times slower here (the
   * process in I/O wait half the time; not understood).
   */
  async writeAtAsync(
    key: string,
    offset: number,
    data: Uint8Array,
  ): Promise<void> {
    const fd = this.#descriptor(key);
    const writing = (async () => {
      await this.#busy.get(fd);
      for (let done = 0; done < data.length;) {
        done += await writeAsync(fd, data, done, offset + done);
      }
    })();
    const settled = writing.catch(() => {});
    this.#busy.set(fd, settled);
    settled.then(() => {
      if (this.#busy.get(fd) === settled) this.#busy.delete(fd);
    });
    await writing;
  }

  /** The open descriptor of `key`'s partial file, opened if needed. */
  #descriptor(key: string): number {
    let fd = this.#open.get(key);
    if (fd === undefined) {
      if (this.#open.size >= MAX_OPEN_FILES) {
        const [oldestKey, oldest] = this.#open.entries().next().value!;
        this.#closeFd(oldest);
        this.#open.delete(oldestKey);
      }
      fd = openSync(this.path(key), WRITE_FLAGS);
      this.#open.set(key, fd);
    }
    return fd;
  }

  /** Closes `fd` now, or once the write in flight on it ended. */
  #closeFd(fd: number): void {
    const busy = this.#busy.get(fd);
    if (busy) busy.then(() => closeSync(fd));
    else closeSync(fd);
  }

  /**
   * Reads `length` bytes at an offset of a partial file (fewer past its end):
   * a chunk already written, to compare with another copy of it.
   */
  readAt(key: string, offset: number, length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    const fd = openSync(this.path(key), constants.O_RDONLY);
    try {
      let done = 0;
      while (done < length) {
        const n = readSync(fd, bytes, done, length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return bytes.subarray(0, done);
    } finally {
      closeSync(fd);
    }
  }

  /** Closes the handle of `key`'s partial file, if open. */
  close(key: string): void {
    const fd = this.#open.get(key);
    if (fd !== undefined) this.#closeFd(fd);
    this.#open.delete(key);
  }

  /** Closes every open handle. */
  closeAll(): void {
    for (const fd of this.#open.values()) this.#closeFd(fd);
    this.#open.clear();
  }
}

/** One positioned async write of `data` from `from` (node:fs): bytes written. */
function writeAsync(
  fd: number,
  data: Uint8Array,
  from: number,
  position: number,
): Promise<number> {
  return new Promise((resolve, reject) =>
    write(
      fd,
      data,
      from,
      data.length - from,
      position,
      (error, written) => error ? reject(error) : resolve(written),
    )
  );
}

/**
 * SHA-512 of a file, read 1 MiB at a time.
 *
 * @example
 * ```ts
 * const hash = await hashFile("deno.json"); // 64 bytes
 * ```
 */
export async function hashFile(path: string): Promise<Uint8Array> {
  const hash = createHash("sha512");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(1024 * 1024);
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return new Uint8Array(hash.digest());
}

/**
 * A file's bytes, `chunkSize` at a time (the last piece may be shorter):
 * a partial file read back chunk by chunk, one chunk in memory.
 *
 * @example
 * ```ts
 * import { readChunks } from "./partial_files.ts";
 *
 * let chunks = 0;
 * for await (const _bytes of readChunks("deno.json", 16)) chunks++;
 * ```
 */
export async function* readChunks(
  path: string,
  chunkSize: number,
): AsyncGenerator<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(chunkSize);
  while (true) {
    const n = await readFull(file, buffer);
    if (n === 0) return;
    yield buffer.subarray(0, n);
    if (n < chunkSize) return;
  }
}

/** The worker's module (it needs read permission to start). */
const HASH_WORKER = new URL("./part_hash_worker.ts", import.meta.url);

/** What the worker answers to a digest. */
interface HashAnswer {
  key: string;
  hash?: Uint8Array;
}

/**
 * The SHA-512 of big partial files, kept on a second core while their
 * chunks arrive (part_hash_worker.ts): as the part of a file written
 * without gaps grows, the worker reads it back from the page cache and hashes
 * it, so the file's hash is ready soon after its last chunk instead of
 * being read back whole then, and this thread keeps decoding and writing.
 * The worker starts at the first file given to it and stops at `close`.
 * Where no worker can start, or it failed, `digest` resolves to undefined:
 * the caller then uses {@linkcode hashFile}.
 *
 * @example
 * ```ts
 * import { PartialHashes } from "./partial_files.ts";
 * declare const partialPath: string; // its first 1 MiB written, then all
 *
 * const hashes = new PartialHashes();
 * hashes.hashTo("k1", partialPath, 1024 * 1024);
 * const hash = await hashes.digest("k1", partialPath); // reads to the end
 * hashes.close();
 * ```
 */
export class PartialHashes {
  #worker?: Worker;
  #broken = false;
  readonly #waiting = new Map<string, (hash?: Uint8Array) => void>();

  /** Whether files can be hashed on the worker (else hash them here). */
  get available(): boolean {
    return !this.#broken &&
      (HASH_WORKER.protocol !== "file:" ||
        Deno.permissions.querySync({ name: "read", path: HASH_WORKER })
            .state === "granted");
  }

  /** Has `key`'s hash cover `path` up to byte `upTo` (written by then). */
  hashTo(key: string, path: string, upTo: number): void {
    this.#post({ key, path, upTo });
  }

  /** The hash of all of `path` (for `key`), or undefined if it failed. */
  digest(key: string, path: string): Promise<Uint8Array | undefined> {
    if (!this.#start()) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.#waiting.set(key, resolve);
      this.#post({ key, path, upTo: -1, digest: true });
    });
  }

  /** Forgets `key`'s hash (its file was given up or rejected). */
  drop(key: string): void {
    if (this.#worker) this.#worker.postMessage({ key, drop: true });
  }

  /** Stops the worker; digests still waited for resolve to undefined. */
  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#fail();
    this.#broken = false;
  }

  /** Posts a request to the worker, started if needed. */
  #post(request: object): void {
    if (this.#start()) this.#worker!.postMessage(request);
  }

  /** Starts the worker once; false when it cannot run. */
  #start(): boolean {
    if (this.#worker) return true;
    if (!this.available) return false;
    const worker = new Worker(HASH_WORKER.href, { type: "module" });
    worker.onmessage = (event: MessageEvent<HashAnswer>) => {
      const { key, hash } = event.data;
      this.#waiting.get(key)?.(hash);
      this.#waiting.delete(key);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      this.#worker = undefined;
      this.#broken = true;
      this.#fail();
    };
    this.#worker = worker;
    return true;
  }

  /** Resolves every digest waited for to undefined. */
  #fail(): void {
    for (const resolve of this.#waiting.values()) resolve(undefined);
    this.#waiting.clear();
  }
}
