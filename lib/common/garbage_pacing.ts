/**
 * Garbage collections paced by the bytes a program moves, for programs run
 * with `--v8-flags=--expose-gc` (without it, nothing happens).
 *
 * The Kafka client reads each fetch, and copies each record that spans its
 * socket reads, into fresh buffers. V8 frees a buffer only in a collection
 * of the generation its owner object has reached, and how soon that comes
 * depends on the size of the young generation (`--max-semi-space-size`):
 *
 * - **Small chunks** (16 KiB) make many small objects per MiB. A 1 MB young
 *   generation fills so fast that the records still waiting in a lane are
 *   promoted to the old generation, and wait there, with their buffers, for
 *   a full collection. The rebuild runs with a 4 MB one: a 512 MiB rebuild at
 *   16 KiB 109-110 -> 139-141 MB/s, peak RSS 212-215 -> 173-178 MB (issue
 *   22, 2026-12-04, pairs alternating; the README's Benchmark section).
 * - **Big chunks** (512 KiB) make few objects but many bytes: a 4 MB young
 *   generation is then collected too seldom, and 512 KiB copies pile up (peak
 *   RSS 182-192 -> 209-217 MB). A young collection after every 2 MiB of such
 *   messages handled (about 1 ms each) brings most of it back (201-212 MB) at
 *   the speed of before.
 *
 * So {@linkcode GarbagePacing} counts only messages of at least `fromBytes`
 * and asks for a young (`"minor"`) collection. A full one (`"major"`) every
 * 8 MiB reaches 150 MB but costs 20-30 ms of CPU each, a third of the
 * rebuild's speed (measured; see the README), so nothing asks for that.
 *
 * @example
 * ```ts
 * import { GarbagePacing } from "./garbage_pacing.ts";
 *
 * const pacing = new GarbagePacing(2 * 1024 * 1024, {
 *   type: "minor",
 *   fromBytes: 256 * 1024,
 * });
 * pacing.moved(524288); // after each message handled
 * ```
 *
 * @module
 */

/** What V8's `gc()` (with `--expose-gc`) takes. */
interface GcOptions {
  type: "major" | "minor";
  execution: "sync" | "async";
}

/** Which collections a {@linkcode GarbagePacing} asks for, and for what. */
export interface PacingOptions {
  /** `"minor"`: the young generation only (about 1 ms); `"major"`: all of it. */
  type: "major" | "minor";
  /** Messages smaller than this are not counted (default: all are). */
  fromBytes?: number;
}

/** Counts bytes moved and collects garbage every `everyBytes`. */
export class GarbagePacing {
  readonly #everyBytes: number;
  readonly #options: PacingOptions;
  #since = 0;

  /** Collects after every `everyBytes` bytes moved, as `options` say. */
  constructor(everyBytes: number, options: PacingOptions) {
    this.#everyBytes = everyBytes;
    this.#options = options;
  }

  /** Counts `bytes` moved in one message; collects when `everyBytes` are reached. */
  moved(bytes: number): void {
    if (bytes < (this.#options.fromBytes ?? 0)) return;
    this.#since += bytes;
    if (this.#since < this.#everyBytes) return;
    this.#since = 0;
    // A young collection is quick: on the spot. A full one as a task of its
    // own, soon after: about half the main thread's time (10 ms, not 18).
    (globalThis as { gc?: (options: GcOptions) => void }).gc?.({
      type: this.#options.type,
      execution: this.#options.type === "minor" ? "sync" : "async",
    });
  }
}
