/**
 * The small chunks of a big file, gathered into 1 MiB writes that are not
 * waited for.
 *
 * At 16 KiB, writing each chunk (one `pwrite` copying it into the page cache)
 * took 23% of a 4 GiB rebuild's main thread, and waiting for each one's
 * answer as an async write left the lane idle for every round trip (issue
 * 22). So the chunks of a file that follow one another are copied into a
 * buffer, and each full buffer goes to disk in one positioned write
 * (node:fs's callback `write`) while the next one fills (one write per file
 * at a time, so they end in order). Deno runs that write on the main thread
 * too, as a deferred operation, but 64 times fewer and out of the handlers'
 * way: the same buffers written synchronously made the rebuild 15% slower. A chunk counts as on disk only once its buffer is written:
 * `written` hears of those chunks then, and the caller records them (and
 * hashes the file that far) only then. Killed before, a chunk was never
 * recorded, and the next run reads it from Kafka again.
 *
 * @example
 * ```ts
 * import { PartialFiles } from "./partial_files.ts";
 * import { StagedWrites } from "./staged_writes.ts";
 *
 * await Deno.mkdir("out/partial", { recursive: true });
 * const partials = new PartialFiles("out/partial");
 * const staged = new StagedWrites(partials, (key, chunks) =>
 *   console.log(key, chunks.map((chunk) => chunk.index))
 * );
 * const data = new Uint8Array(16384);
 * await staged.stage("k1", { index: 1, offset: 0, data, hash: new Uint8Array(64) });
 * await staged.settle("k1"); // prints: k1 [ 1 ]
 * partials.closeAll();
 * ```
 *
 * @module
 */
import type { PartialFiles } from "./partial_files.ts";

/** Bytes gathered into one write. */
export const STAGE_BYTES = 1024 * 1024;

/**
 * Chunks up to this size are worth gathering; bigger ones are written one by
 * one as fast (a 4 GiB rebuild at 512 KiB runs at 400 MB/s and more).
 */
export const STAGED_CHUNK_BYTES = 64 * 1024;

/** A chunk to gather: where it goes, and what the caller records once it is on disk. */
export interface StagedChunk {
  /** 1-based, as in the message format. */
  index: number;
  /** Where the chunk starts in the file, in bytes. */
  offset: number;
  /** Its bytes (copied: the caller may reuse them at once). */
  data: Uint8Array;
  /**
   * Its SHA-512 as its sender declared it, kept as given until `written`
   * reports it: its own 64 bytes, not a view into a buffer given back
   * (decodeChunk copies it out of the message).
   */
  hash: Uint8Array;
}

/** A chunk on disk, as {@linkcode StagedWrites} reports it. */
export interface WrittenChunk {
  /** 1-based, as in the message format. */
  index: number;
  /** Its SHA-512 as its sender declared it. */
  hash: Uint8Array;
}

/** One file's buffers. */
interface Staging {
  /** The buffer being filled, and what of it is used. */
  buffer: Uint8Array;
  /** Where in the file `buffer` starts, in bytes. */
  start: number;
  length: number;
  /** The chunks in `buffer`, in order. */
  chunks: WrittenChunk[];
  /** The buffer being written, and its chunks; undefined when none is. */
  writing?: { buffer: Uint8Array; start: number; chunks: WrittenChunk[] };
  /** Resolves when the write in flight ended. */
  written: Promise<void>;
  /** A buffer whose write ended, to fill next. */
  spare?: Uint8Array;
  /** Why a write (or the caller's recording of it) failed. */
  failure?: unknown;
}

/**
 * Gathers the small chunks of big files into writes of
 * {@linkcode STAGE_BYTES}, and says which chunks are on disk once they are.
 */
export class StagedWrites {
  readonly #partials: PartialFiles;
  readonly #written: (key: string, chunks: WrittenChunk[]) => void;
  readonly #files = new Map<string, Staging>();
  #closed = false;

  /**
   * Writes into `partials`; `written` hears of each buffer's chunks once it
   * is on disk (when the write answers, between two other steps of this
   * thread). A `written` that throws fails the file's next step.
   */
  constructor(
    partials: PartialFiles,
    written: (key: string, chunks: WrittenChunk[]) => void,
  ) {
    this.#partials = partials;
    this.#written = written;
  }

  /**
   * Copies `chunk` into `key`'s buffer. The buffer is written first when the
   * chunk does not follow its last one, and once it has no room for another
   * chunk of this size; waits only while the file's previous write is still
   * in flight. Throws what made an earlier write of the file fail.
   */
  async stage(key: string, chunk: StagedChunk): Promise<void> {
    let file = this.#files.get(key);
    if (!file) {
      file = {
        buffer: new Uint8Array(STAGE_BYTES),
        start: 0,
        length: 0,
        chunks: [],
        written: Promise.resolve(),
      };
      this.#files.set(key, file);
    }
    if (file.failure) throw file.failure;
    const { data } = chunk;
    if (
      file.length > 0 &&
      (chunk.offset !== file.start + file.length ||
        file.length + data.length > file.buffer.length)
    ) await this.#write(key, file);
    if (file.length === 0) file.start = chunk.offset;
    file.buffer.set(data, file.length);
    file.length += data.length;
    file.chunks.push({ index: chunk.index, hash: chunk.hash });
    if (file.length + data.length > file.buffer.length) {
      await this.#write(key, file);
    }
  }

  /**
   * The first chunk of `key` gathered but not yet on disk (Infinity when
   * there is none): chunks from it on may be missing from the partial file.
   */
  firstUnwritten(key: string): number {
    const file = this.#files.get(key);
    return Math.min(
      file?.writing?.chunks[0].index ?? Infinity,
      file?.chunks[0]?.index ?? Infinity,
    );
  }

  /**
   * Writes what `key` has gathered and resolves once all of it is on disk
   * (and `written` heard of it); its buffers go. Throws what made a write
   * of the file fail.
   */
  async settle(key: string): Promise<void> {
    const file = this.#files.get(key);
    if (!file) return;
    try {
      await this.#write(key, file);
      await file.written;
      if (file.failure) throw file.failure;
    } finally {
      this.#files.delete(key);
    }
  }

  /**
   * Writes every file's gathered chunks on this thread, the buffers still in
   * flight too (the same bytes at the same place), tells `written`, and
   * stops: a write that ends later is not reported. For closing at once,
   * with nothing left unwritten.
   */
  closeNow(): void {
    this.#closed = true;
    for (const [key, file] of this.#files) {
      if (file.failure) continue;
      const parts = [file.writing, {
        buffer: file.buffer.subarray(0, file.length),
        start: file.start,
        chunks: file.chunks,
      }];
      for (const part of parts) {
        if (!part || part.chunks.length === 0) continue;
        this.#partials.writeAtSync(key, part.start, part.buffer);
        this.#written(key, part.chunks);
      }
    }
    this.#files.clear();
  }

  /**
   * Starts writing `file`'s buffer (after the write in flight, if any, so
   * writes end in order) and swaps in an empty one. Throws what made the
   * write before fail.
   */
  async #write(key: string, file: Staging): Promise<void> {
    await file.written;
    if (file.failure) throw file.failure;
    if (file.length === 0 || this.#closed) return;
    const writing = {
      buffer: file.buffer.subarray(0, file.length),
      start: file.start,
      chunks: file.chunks,
    };
    file.writing = writing;
    file.buffer = file.spare ?? new Uint8Array(STAGE_BYTES);
    file.spare = undefined;
    file.length = 0;
    file.chunks = [];
    file.written = this.#partials
      .writeAtAsync(key, writing.start, writing.buffer)
      .then(() => {
        if (this.#closed) return;
        file.writing = undefined;
        file.spare = new Uint8Array(writing.buffer.buffer);
        this.#written(key, writing.chunks);
      })
      .catch((error) => {
        file.failure ??= error;
      });
  }
}
