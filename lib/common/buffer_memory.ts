/**
 * Giving buffer memory back as soon as it is no longer needed, instead of
 * whenever V8's garbage collector gets to it.
 *
 * The Kafka client reads the socket in fresh 64 KiB buffers and copies each
 * record that spans two reads (every 512 KiB chunk) into a buffer of its
 * own. V8 frees an ArrayBuffer's memory only when a collection finds its
 * owner dead: a young (`"minor"`) collection for owners still young, a full
 * one for owners that lived through two young ones. A chunk waiting in a
 * lane for its turn lives through several, and V8 starts a full collection
 * only once about 64 MB of such memory has piled up: that pile was most of
 * a 512 KiB rebuild's peak memory (205-216 MB, where the program starts at
 * 97). Two measures bring it to 145-148 MB at the same speed (issue 22,
 * 2026-12-04, the README's Benchmark section):
 *
 * - {@linkcode releaseBuffer}: a handler that is done with a chunk it owns
 *   (written to disk, nothing else holds a view of it) detaches its buffer,
 *   and the memory goes back at once.
 * - {@linkcode collectYoungSoon}: once a fetch of big records has been
 *   handed out, its socket buffers are garbage while still young; a young
 *   collection right then (about 1 ms) frees them before they grow old. In
 *   a process without `--v8-flags=--expose-gc` it does nothing.
 *
 * @example
 * ```ts
 * import { collectYoungSoon, releaseBuffer } from "./buffer_memory.ts";
 *
 * const chunk = new Uint8Array(512 * 1024);
 * // ... written to disk, and no one else holds a view of it:
 * releaseBuffer(chunk); // true: chunk.byteLength is 0 from now on
 * collectYoungSoon();
 * ```
 *
 * @module
 */

/** What V8's `gc()` (with `--expose-gc`) takes. */
interface GcOptions {
  type: "major" | "minor";
  execution: "sync" | "async";
}

/**
 * Gives the memory of `bytes` back now, if `bytes` is the whole of its
 * buffer (a view into a bigger buffer, such as the client's socket reads,
 * is left alone: other views share it). Afterwards `bytes` and every other
 * view of its buffer are empty (`byteLength` 0), so call it only when
 * nothing else will read them; a forgotten view then reads nothing, never
 * someone else's bytes. Returns whether the memory was given back.
 *
 * @example
 * ```ts
 * import { releaseBuffer } from "./buffer_memory.ts";
 *
 * const whole = new Uint8Array(16);
 * console.log(releaseBuffer(whole.subarray(4))); // false: a part of it
 * console.log(releaseBuffer(whole), whole.byteLength); // true 0
 * ```
 */
export function releaseBuffer(bytes: Uint8Array | null | undefined): boolean {
  if (!bytes || bytes.byteLength === 0) return false;
  const buffer = bytes.buffer;
  if (
    !(buffer instanceof ArrayBuffer) || bytes.byteOffset !== 0 ||
    bytes.byteLength !== buffer.byteLength
  ) return false;
  // Detaches `buffer`: V8 drops its memory now, not at a collection.
  buffer.transfer(0);
  return true;
}

let collectionDue = false;

/**
 * Asks for one young-generation collection after the current task (calls
 * until then share it), in a process run with `--v8-flags=--expose-gc`;
 * without that flag it does nothing.
 *
 * @example
 * ```ts
 * import { collectYoungSoon } from "./buffer_memory.ts";
 *
 * collectYoungSoon(); // e.g. after each record of a fetch was handed out
 * ```
 */
export function collectYoungSoon(): void {
  const gc = (globalThis as { gc?: (options: GcOptions) => void }).gc;
  if (!gc || collectionDue) return;
  collectionDue = true;
  // After the current task: the whole fetch has been handed out by then.
  setTimeout(() => {
    collectionDue = false;
    gc({ type: "minor", execution: "sync" });
  }, 0);
}
