/**
 * Full garbage collections paced by the bytes a program moves, for programs
 * run with `--v8-flags=--expose-gc` (without it, nothing happens).
 *
 * The Kafka client reads each fetch, and copies each produce batch, into
 * fresh buffers that outlive a young-generation collection. V8 frees such
 * buffers only in a full collection, which it starts once about 50-64 MB of
 * them wait (more while it marks, the faster they come): a transfer's
 * resident memory rose by that much. Collecting every few MiB moved keeps it
 * near what is really in use, at a price: each collection costs 20-30 ms of
 * CPU on a 2-core machine. 256 MiB side by side (issue 22, 2 runs each):
 * peak RSS rebuild 16 KiB 205-208 -> 146-147 MB, rebuild 512 KiB 160-173
 * -> 151-160, for 25-50% more CPU seconds (a 512 MiB rebuild earlier ran
 * 16-59% slower), so the rebuild tasks do not set `--expose-gc`; it is for a
 * machine short of memory. The consumer loop is its one user. The upload
 * tasks set `--expose-gc` for file_hash_worker.ts's own collections; their
 * consumers handle only KafkaCrypto's key messages (bytes, not MiB), so no
 * pacing happens there.
 *
 * @example
 * ```ts
 * import { GarbagePacing } from "./garbage_pacing.ts";
 *
 * const pacing = new GarbagePacing(8 * 1024 * 1024);
 * pacing.moved(16384); // after each message handled or sent
 * ```
 *
 * @module
 */

/** What V8's `gc()` (with `--expose-gc`) takes. */
interface GcOptions {
  type: "major" | "minor";
  execution: "sync" | "async";
}

/** Counts bytes moved and collects garbage every `everyBytes`. */
export class GarbagePacing {
  readonly #everyBytes: number;
  #since = 0;

  /** Collects after every `everyBytes` bytes moved. */
  constructor(everyBytes: number) {
    this.#everyBytes = everyBytes;
  }

  /** Counts `bytes` moved; collects when `everyBytes` are reached. */
  moved(bytes: number): void {
    this.#since += bytes;
    if (this.#since < this.#everyBytes) return;
    this.#since = 0;
    // "async": V8 runs it as a task of its own, soon after: about half the
    // main thread's time of a collection run on the spot (10 ms, not 18).
    (globalThis as { gc?: (options: GcOptions) => void }).gc?.({
      type: "major",
      execution: "async",
    });
  }
}
