/**
 * Checking and writing the chunks of big files on a second core
 * (chunk_write_worker.ts): the chunk's SHA-512 is checked there and only a
 * match is written, with one positioned write, so this thread goes on
 * reading, decoding and recording other chunks meanwhile (at 16 KiB chunks
 * the check and the write were half of the main thread's time, and a write
 * waited on by a busy disk stalled everything).
 *
 * Each chunk's bytes are copied once (16 KiB: about a microsecond) into a
 * buffer of their own, which is handed to the worker without a copy: the
 * data is a view into the whole fetched message set, which must not be
 * sent along. The worker handles requests in the order posted.
 *
 * @example
 * ```ts
 * import { ChunkWrites, ChunkHashMismatch } from "./chunk_writes.ts";
 * declare const data: Uint8Array, hash: Uint8Array; // a chunk and its SHA-512
 *
 * const writes = new ChunkWrites();
 * try {
 *   await writes.write("out/x.part", 0, data, hash);
 * } catch (error) {
 *   if (error instanceof ChunkHashMismatch) console.log("not written");
 * }
 * await writes.closeFile("out/x.part");
 * writes.close();
 * ```
 *
 * @module
 */
import { CHUNK_HASH_MISMATCH, InvalidChunkError } from "./chunk.ts";

/** The worker's module (it needs read permission to start). */
const WRITE_WORKER = new URL("./chunk_write_worker.ts", import.meta.url);

/** What the worker answers. */
interface WriteAnswer {
  id: number;
  mismatch?: boolean;
  error?: string;
}

/** A chunk whose data does not match its SHA-512: nothing was written. */
export class ChunkHashMismatch extends InvalidChunkError {
  /** The same words as `decodeChunk`'s check. */
  constructor() {
    super(CHUNK_HASH_MISMATCH);
    this.name = "ChunkHashMismatch";
  }
}

/**
 * Chunks checked and written on a worker, started at the first write and
 * stopped at `close`. Where no worker can start (no read permission on its
 * module) `available` is false, and the caller writes on its own thread.
 *
 * @example
 * ```ts
 * import { ChunkWrites } from "./chunk_writes.ts";
 * declare const data: Uint8Array, hash: Uint8Array;
 * const writes = new ChunkWrites();
 * if (writes.available) await writes.write("out/x.part", 16384, data, hash);
 * writes.close();
 * ```
 */
export class ChunkWrites {
  #worker?: Worker;
  #broken = false;
  #nextId = 0;
  readonly #waiting = new Map<
    number,
    { resolve: () => void; reject: (error: Error) => void }
  >();

  /** Whether chunks can be written on the worker. */
  get available(): boolean {
    return !this.#broken &&
      (WRITE_WORKER.protocol !== "file:" ||
        Deno.permissions.querySync({ name: "read", path: WRITE_WORKER })
            .state === "granted");
  }

  /**
   * Checks `data` against `hash` and writes it at `offset` of `path`.
   * Rejects with {@linkcode ChunkHashMismatch} (nothing written), or an
   * `Error` with the system's message when the write failed.
   */
  write(
    path: string,
    offset: number,
    data: Uint8Array,
    hash: Uint8Array,
  ): Promise<void> {
    // Copies of their own: a view would drag its whole message set along
    // (and a Node Buffer's slice is a view, so copy explicitly).
    const bytes = new Uint8Array(data.length);
    bytes.set(data);
    const expected = new Uint8Array(hash.length);
    expected.set(hash);
    return this.#ask({ path, offset, data: bytes, hash: expected }, [
      bytes.buffer,
      expected.buffer,
    ]);
  }

  /**
   * Closes the worker's handle of `path`; resolves once every write posted
   * before is done (at once when no worker runs).
   */
  closeFile(path: string): Promise<void> {
    if (!this.#worker) return Promise.resolve();
    return this.#ask({ close: path }, []);
  }

  /** Stops the worker; writes still waited for reject. */
  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#fail(new Error("the chunk writer was closed"));
  }

  /** Posts a request; resolves or rejects with its answer. */
  #ask(request: object, transfer: ArrayBuffer[]): Promise<void> {
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage({ id, ...request }, transfer);
    });
  }

  /** The worker, started once. */
  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WRITE_WORKER.href, { type: "module" });
    worker.onmessage = (event: MessageEvent<WriteAnswer>) => {
      const { id, mismatch, error } = event.data;
      const waiting = this.#waiting.get(id);
      this.#waiting.delete(id);
      if (!waiting) return;
      if (mismatch) waiting.reject(new ChunkHashMismatch());
      else if (error !== undefined) waiting.reject(new Error(error));
      else waiting.resolve();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      this.#worker = undefined;
      this.#broken = true;
      this.#fail(new Error(`the chunk writer failed: ${event.message}`));
    };
    this.#worker = worker;
    return worker;
  }

  /** Rejects every write still waited for. */
  #fail(error: Error): void {
    for (const { reject } of this.#waiting.values()) reject(error);
    this.#waiting.clear();
  }
}
