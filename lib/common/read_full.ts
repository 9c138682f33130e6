/**
 * Reading a whole block. `read` on a file may return fewer bytes than asked
 * for before the end; this helper keeps reading until the block is full or
 * the file ends, so no caller has to remember the loop. {@linkcode readFullSync}
 * does the same with `readSync`, for a worker that has nothing else to do.
 *
 * @example
 * ```ts
 * import { readFull } from "./read_full.ts";
 *
 * using file = await Deno.open("deno.json", { read: true });
 * const block = new Uint8Array(64);
 * const length = await readFull(file, block); // 64, or less if the file is shorter
 * ```
 *
 * @module
 */

/** Anything with Deno's `read`: files, sockets, stdin. */
export interface Reader {
  /** Reads into `buffer`, resolving with how many bytes, or null at the end. */
  read(buffer: Uint8Array): Promise<number | null>;
}

/**
 * Reads until `buffer` is full or the reader ends; resolves with the bytes
 * read (fewer than `buffer.length` only at the end).
 *
 * @example
 * ```ts
 * using file = await Deno.open("deno.json", { read: true });
 * const head = new Uint8Array(16);
 * if (await readFull(file, head) < head.length) throw new Error("too short");
 * ```
 */
export async function readFull(
  reader: Reader,
  buffer: Uint8Array,
): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const n = await reader.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/** Anything with Deno's `readSync`: a file opened with `Deno.openSync`. */
export interface SyncReader {
  /** Reads into `buffer`, returning how many bytes, or null at the end. */
  readSync(buffer: Uint8Array): number | null;
}

/**
 * {@linkcode readFull} without awaiting: reads until `buffer` is full or the
 * reader ends; returns the bytes read (fewer than `buffer.length` only at the
 * end).
 *
 * @example
 * ```ts
 * using file = Deno.openSync("deno.json", { read: true });
 * const head = new Uint8Array(16);
 * if (readFullSync(file, head) < head.length) throw new Error("too short");
 * ```
 */
export function readFullSync(reader: SyncReader, buffer: Uint8Array): number {
  let filled = 0;
  while (filled < buffer.length) {
    const n = reader.readSync(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}
