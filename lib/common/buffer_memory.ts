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
 * a 512 KiB rebuild's peak memory (210-218 MB, where the program starts at
 * 97). With the measures below (and the lanes keeping copies of a big
 * record's key and headers, not views into the socket reads: see
 * kafka/consumer_member.ts) it peaks at 147-150 MB for 512 MiB and 154-159
 * for 4 GiB, at the same speed or better (issue 22, 2026-12-04, the
 * README's Benchmark section):
 *
 * - {@linkcode releaseBuffer}: a handler that is done with a chunk it owns
 *   (written to disk, nothing else holds a view of it) detaches its buffer,
 *   and the memory goes back at once.
 * - {@linkcode youngGarbage}: once fetches of big records have been handed
 *   out, their socket buffers are garbage while still young; a young
 *   collection soon after (about 1 ms) frees them before they grow old.
 *   The upload counts the same way the big records Kafka has answered for
 *   (the client's copies of each batch, kafka/chunk_producer.ts), more
 *   often ({@linkcode SENT_GARBAGE_BYTES}). Buffers
 *   that grew old while in use pile up for a full collection instead: once
 *   they hold 12 MB more than their lowest since the last one, it asks for
 *   a full collection. In a process without `--v8-flags=--expose-gc` it
 *   does nothing.
 * - {@linkcode oldGarbage}: what does grow old (about 1 KB of each small
 *   chunk's objects) V8 lets pile up to four times what its last full
 *   collection kept; counted per record, a full collection comes once the
 *   heap grew 4 MB instead, so long runs stay flat (a 4 GiB rebuild at 16
 *   KiB: 172-176 -> 152-155 MB). Also only with `--expose-gc`.
 *
 * @example
 * ```ts
 * import { releaseBuffer, youngGarbage } from "./buffer_memory.ts";
 *
 * const chunk = new Uint8Array(512 * 1024);
 * youngGarbage(chunk.byteLength); // its socket reads are garbage now
 * // ... written to disk, and no one else holds a view of it:
 * releaseBuffer(chunk); // true: chunk.byteLength is 0 from now on
 * ```
 *
 * @module
 */

import { getHeapStatistics } from "node:v8";

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
  if (!bytes || bytes.byteLength === 0 || !ownsItsBuffer(bytes)) return false;
  // Detaches the buffer: V8 drops its memory now, not at a collection.
  (bytes.buffer as ArrayBuffer).transfer(0);
  return true;
}

/**
 * `bytes` in a buffer of their own: `bytes` itself when they are the whole
 * of their buffer, else a copy. A view into a bigger buffer (a socket read)
 * keeps all of it alive; the copy keeps only its own bytes.
 *
 * @example
 * ```ts
 * import { ownBytes } from "./buffer_memory.ts";
 *
 * const read = new Uint8Array(65536);
 * const key = ownBytes(read.subarray(10, 30)); // 20 bytes of their own
 * console.log(key.buffer.byteLength); // 20
 * ```
 */
export function ownBytes(bytes: Uint8Array): Uint8Array {
  return ownsItsBuffer(bytes) ? bytes : new Uint8Array(bytes);
}

/**
 * Records from this size are "big": they span several of the client's 64 KiB
 * socket reads, so it copies each into a buffer of its own when it reads
 * them (and twice, for the batch's CRC and into the request, when it sends
 * them). Smaller records are views into a shared socket read. The reading
 * and sending sides count big records' bytes with {@linkcode youngGarbage}.
 *
 * @example
 * ```ts
 * import { BIG_RECORD_BYTES } from "./buffer_memory.ts";
 *
 * const big = 512 * 1024 >= BIG_RECORD_BYTES; // true
 * ```
 */
export const BIG_RECORD_BYTES = 64 * 1024;

/** Whether `bytes` are the whole of a (non-shared) ArrayBuffer. */
function ownsItsBuffer(bytes: Uint8Array): boolean {
  return bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength;
}

/**
 * Bytes of young garbage between two young collections, unless
 * {@linkcode youngGarbage} is told otherwise: two fetches of 3 MiB. A
 * collection after every fetch also ages the fetches still coming in
 * on the other consumers' connections, and their socket buffers, promoted
 * after two, crept into the old generation: a 4 GiB rebuild at 512 KiB
 * peaked at 185-193 MB against 147-151 for 512 MiB; every 4, 6 or 8 MiB,
 * 156-158 MB at the same speed (every 3 MiB 177, every 12 MiB 163).
 */
export const YOUNG_GARBAGE_BYTES = 6 * 1024 * 1024;

/**
 * Bytes of big records sent between two young collections, for
 * {@linkcode youngGarbage}'s `every` on the sending side: 2 MiB. The
 * client copies each big record twice to send it (into one buffer for the
 * batch's CRC, and with the request around it for the socket), and both
 * copies are garbage once the request is written. Collected every 6 MiB of
 * records, about 12 MiB of copies, some of them lived through two young
 * collections and waited for a full one: a 4 GiB upload at 512 KiB peaked
 * at 129-134 MB against 119-122 for 256 MiB (+8-12%; the flat bench +11.3%).
 * Every 2 MiB: 118-120 MB against 114-117 (3 MiB: 121-127 at 4 GiB), for
 * about 0.4 CPU s more per 512 MiB (3.4-3.8 s against 2.9-3.2 wall; the
 * peers bench after it: 1.14x ProducerPerformance at 512 KiB) (issue 22,
 * 2026-12-05, the README's Benchmark section). A rebuild's fetches keep the
 * 6 MiB above.
 *
 * @example
 * ```ts
 * import { SENT_GARBAGE_BYTES, youngGarbage } from "./buffer_memory.ts";
 *
 * youngGarbage(512 * 1024, SENT_GARBAGE_BYTES); // a big record was answered
 * ```
 */
export const SENT_GARBAGE_BYTES = 2 * 1024 * 1024;

/**
 * Bytes counted since the last collection asked for, by `every`: a process
 * that both fetches and sends big records (a reconstructor passing chunks
 * on to its repartition topic) counts each side at its own pace.
 */
const garbageSince = new Map<number, number>();

/**
 * Counts `bytes` that became garbage while young (e.g. the socket reads a
 * fetch's big records were copied out of); once `every` bytes have
 * ({@linkcode YOUNG_GARBAGE_BYTES} unless told; bytes counted with another
 * `every` are counted apart), asks for a collection
 * after the current task: a young one, or a full one once the buffers'
 * memory grew {@linkcode OLD_BUFFER_BYTES} past its lowest since the last
 * full collection ({@linkcode collectionFor}). Only in a process run with
 * `--v8-flags=--expose-gc`; without that flag it does nothing.
 *
 * @example
 * ```ts
 * import { youngGarbage } from "./buffer_memory.ts";
 *
 * youngGarbage(512 * 1024); // for each big record a fetch handed out
 * ```
 */
export function youngGarbage(
  bytes: number,
  every: number = YOUNG_GARBAGE_BYTES,
): void {
  if (!exposedGc()) return;
  const since = (garbageSince.get(every) ?? 0) + bytes;
  garbageSince.set(every, since < every ? since : 0);
  if (since < every) return;
  // Buffers that grew old while in use wait for a full collection.
  const buffers = getHeapStatistics().external_memory;
  buffersLow = Math.min(buffersLow ?? buffers, buffers);
  if (collectionFor(buffers, buffersLow) === "major") {
    collectSoon("major", afterFullCollection);
    return;
  }
  // After the current task: the whole fetch has been handed out by then.
  collectSoon("minor");
}

/**
 * The collection {@linkcode youngGarbage} asks for when buffers hold
 * `buffers` bytes and held `lowest` at least since the last full
 * collection: a full one once they grew {@linkcode OLD_BUFFER_BYTES} past it.
 *
 * @example
 * ```ts
 * import { collectionFor } from "./buffer_memory.ts";
 *
 * collectionFor(30e6, 20e6); // "minor"
 * collectionFor(60e6, 20e6); // "major"
 * ```
 */
export function collectionFor(
  buffers: number,
  lowest: number,
): "major" | "minor" {
  return buffers >= lowest + OLD_BUFFER_BYTES ? "major" : "minor";
}

/**
 * How far the buffers' memory (V8's "external" memory: the bytes of
 * ArrayBuffers) may grow past its lowest level since the last full
 * collection before {@linkcode youngGarbage} asks for a full collection
 * instead of a young one. A buffer still in use at two young collections
 * (a message sent, a record fetched, while they ran) is promoted, and only
 * a full collection frees it; V8 starts one itself at about 64 MB of them.
 * In the last seconds of 4 GiB uploads at 512 KiB they piled up from 13-37
 * MB to 56-87 MB (a heap snapshot then, which collects first, found 14 MB
 * of big buffers alive): peak RSS 174-187 MB in 8 of 16 runs, 136-145 in
 * the others. With 32 MB here: 135-139 MB in 5 runs of 9, 158-160 in 4;
 * with 24 MB, 137-149 in 5 of 5 (asking for 46-60 full collections per
 * run, against 50 from the heap's look alone before), at 250.6-281.9 MB/s
 * but for one run at 164.5 (28.5 CPU s, against 21-22: the machine) (issue
 * 22, 2026-12-05). Later the same day: 24 MB still let the 4 GiB upload
 * reach 147-150 MB, and 151 in the flat bench twice; with 12 MB, 128-133 MB
 * (6 MB: 129, with more CPU), the same speed at 512 MiB (2.6-3.0 s against
 * 2.7-3.0), and rebuilds of 4 GiB at 142-145 MB.
 *
 * @example
 * ```ts
 * import { OLD_BUFFER_BYTES } from "./buffer_memory.ts";
 *
 * console.log(OLD_BUFFER_BYTES / 1024 / 1024); // 12
 * ```
 */
export const OLD_BUFFER_BYTES = 12 * 1024 * 1024;

/**
 * The lowest buffer memory seen since the last full collection (V8 frees
 * the buffers it found dead on a background thread, after the collection,
 * so the level right after it is not yet the low one).
 */
let buffersLow: number | undefined;

/**
 * Notes what a full collection left: the heap now, and the buffers' lowest
 * level again from the next look on.
 */
function afterFullCollection(): void {
  keptByLastFull = getHeapStatistics().used_heap_size;
  buffersLow = undefined;
}

/**
 * How much the heap may grow past what the last full collection kept before
 * {@linkcode oldGarbage} asks for another. V8's own limit is up to four
 * times what survived, for these tools 50-70 MB of heap over 17-21 MB kept:
 * mostly the objects of long-gone chunks that lived through two young
 * collections while they waited. A 4 GiB rebuild at 16 KiB grew from 32 to
 * 50 MB of heap and ran no full collection at all (peak RSS 172-176 MB);
 * with a full collection once the heap grew 4 MB, 152-155 MB (8 MB: 159-174,
 * 16 MB: 174), about 40 collections, 2 CPU s more of 20, the same speed. The
 * 4 GiB upload at 16 KiB: 178 -> 151-159 MB, 6% slower (issue 22,
 * 2026-12-04; the README's Benchmark section).
 */
const OLD_GARBAGE_BYTES = 4 * 1024 * 1024;
/** Records between two looks at the heap's size (a look costs about 5 µs). */
const LOOK_EVERY_RECORDS = 256;

let recordsSince = 0;
let keptByLastFull: number | undefined;

/**
 * Counts `records` handled (or sent); every few hundred, looks at the
 * heap, and once it grew 4 MB past what the last full collection kept,
 * asks for a full collection after the current task, in a process run with
 * `--v8-flags=--expose-gc`. Without that flag it does nothing.
 *
 * @example
 * ```ts
 * import { oldGarbage } from "./buffer_memory.ts";
 *
 * oldGarbage(1); // for each message handled
 * ```
 */
export function oldGarbage(records: number): void {
  if (!exposedGc()) return;
  recordsSince += records;
  if (recordsSince < LOOK_EVERY_RECORDS) return;
  recordsSince = 0;
  const used = getHeapStatistics().used_heap_size;
  keptByLastFull ??= used;
  if (used < keptByLastFull + OLD_GARBAGE_BYTES) return;
  collectSoon("major", afterFullCollection);
}

/** V8's `gc()`, in a process run with `--v8-flags=--expose-gc`. */
function exposedGc(): ((options: GcOptions) => void) | undefined {
  return (globalThis as { gc?: (options: GcOptions) => void }).gc;
}

/** Collections asked for and not run yet, by kind. */
const due: Record<GcOptions["type"], boolean> = { minor: false, major: false };

/**
 * Runs a collection of `type` after the current task (once, however often
 * it is asked for before then), then `done`.
 */
function collectSoon(type: GcOptions["type"], done?: () => void): void {
  const gc = exposedGc();
  if (!gc || due[type]) return;
  due[type] = true;
  setTimeout(() => {
    due[type] = false;
    gc({ type, execution: "sync" });
    done?.();
  }, 0);
}
