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
  /** Per write: 0 written, 1 mismatch, else the write's error message. */
  results?: (number | string)[];
  /** The writes' data buffers, handed back for reuse. */
  buffers?: ArrayBuffer[];
}

/** One write waiting to be posted or answered. */
interface Waiting {
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Writes posted at once (else at the end of the current task). */
const BATCH_WRITES = 16;
/** Bytes of spare chunk buffers kept per size, for the next copies. */
const SPARE_BYTES = 8 * 1024 * 1024;

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
  /** Whether the worker's module may be read (asked once). */
  #permitted?: boolean;
  #nextId = 0;
  /** Requests answered by the worker, by id: one entry per write. */
  readonly #waiting = new Map<number, Waiting[]>();
  /** Writes not yet posted, and their callers. */
  #batch: {
    path: string;
    offset: number;
    data: Uint8Array;
    hash: Uint8Array;
  }[] = [];
  #batchWaiting: Waiting[] = [];
  #flushTimer?: ReturnType<typeof setTimeout>;
  /** Buffers the worker handed back, by size. */
  readonly #spare = new Map<number, ArrayBuffer[]>();

  /** Whether chunks can be written on the worker. */
  get available(): boolean {
    this.#permitted ??= WRITE_WORKER.protocol !== "file:" ||
      Deno.permissions.querySync({ name: "read", path: WRITE_WORKER })
          .state === "granted";
    return !this.#broken && this.#permitted;
  }

  /**
   * Checks `data` against `hash` and writes it at `offset` of `path`.
   * Rejects with {@linkcode ChunkHashMismatch} (nothing written), or an
   * `Error` with the system's message when the write failed. Writes are
   * posted in batches, at the latest at the end of the current task.
   */
  write(
    path: string,
    offset: number,
    data: Uint8Array,
    hash: Uint8Array,
  ): Promise<void> {
    // A copy of its own: a view would drag its whole message set along
    // (and a Node Buffer's slice is a view, so it is copied explicitly).
    const bytes = new Uint8Array(
      this.#spare.get(data.length)?.pop() ?? new ArrayBuffer(data.length),
    );
    bytes.set(data);
    const expected = new Uint8Array(hash.length);
    expected.set(hash);
    return new Promise((resolve, reject) => {
      this.#batch.push({ path, offset, data: bytes, hash: expected });
      this.#batchWaiting.push({ resolve, reject });
      if (this.#batch.length >= BATCH_WRITES) this.#flush();
      else this.#flushTimer ??= setTimeout(() => this.#flush(), 0);
    });
  }

  /**
   * Closes the worker's handle of `path`; resolves once every write posted
   * before is done (at once when no worker runs).
   */
  closeFile(path: string): Promise<void> {
    this.#flush();
    if (!this.#worker) return Promise.resolve();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, [{ resolve, reject }]);
      this.#worker!.postMessage({ id, close: path });
    });
  }

  /** Stops the worker; writes still waited for reject. */
  close(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#worker?.terminate();
    this.#worker = undefined;
    const closed = new Error("the chunk writer was closed");
    for (const waiting of this.#batchWaiting) waiting.reject(closed);
    this.#batch = [];
    this.#batchWaiting = [];
    this.#fail(closed);
  }

  /** Posts the writes not yet posted, as one request. */
  #flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#batch.length === 0) return;
    const writes = this.#batch;
    const waiting = this.#batchWaiting;
    this.#batch = [];
    this.#batchWaiting = [];
    const worker = this.#start();
    const id = this.#nextId++;
    this.#waiting.set(id, waiting);
    const transfer = writes.flatMap((
      write,
    ) => [write.data.buffer as ArrayBuffer, write.hash.buffer as ArrayBuffer]);
    worker.postMessage({ id, writes }, transfer);
  }

  /** The worker, started once. */
  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WRITE_WORKER.href, { type: "module" });
    worker.onmessage = (event: MessageEvent<WriteAnswer>) =>
      this.#answered(event.data);
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

  /** Settles the writes of one answer and keeps its buffers for reuse. */
  #answered({ id, results, buffers }: WriteAnswer): void {
    const waiting = this.#waiting.get(id);
    this.#waiting.delete(id);
    if (!waiting) return;
    waiting.forEach(({ resolve, reject }, i) => {
      const result = results?.[i] ?? 0;
      if (result === 0) resolve();
      else if (result === 1) reject(new ChunkHashMismatch());
      else reject(new Error(String(result)));
    });
    for (const buffer of buffers ?? []) {
      let spare = this.#spare.get(buffer.byteLength);
      if (!spare) this.#spare.set(buffer.byteLength, spare = []);
      if ((spare.length + 1) * buffer.byteLength <= SPARE_BYTES) {
        spare.push(buffer);
      }
    }
  }

  /** Rejects every write still waited for. */
  #fail(error: Error): void {
    for (const waiting of this.#waiting.values()) {
      for (const { reject } of waiting) reject(error);
    }
    this.#waiting.clear();
  }
}
