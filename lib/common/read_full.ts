/**
 * Reading a whole block. `read` on a file may return fewer bytes than asked
 * for before the end; this helper keeps reading until the block is full or
 * the file ends, so no caller has to remember the loop.
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
