/**
 * Waiting, before a measured run, until writing to the page cache is back at
 * its usual speed.
 *
 * On the 2-core virtual machine the benchmark was built on, a run that
 * wrote hundreds of MB (an upload: the broker's log; a rebuild: its file)
 * leaves the kernel busy reclaiming memory for seconds afterwards, and while
 * it does, every new page costs 4 to 12 times as much: 512 MiB written with
 * `dd` took 0.58-1.22 s instead of 0.09-0.10 s, all of it system time of the
 * writer. The rebuild writes the file it rebuilds, ConsumerPerformance
 * writes nothing, so a rebuild that started in such a spell ran at 0.65x the
 * Java consumer and the next one at 1.0x (its writes took 1.0-1.6 s of the
 * main thread instead of 0.4; issue 22, the README's Benchmark section).
 *
 * So before every run the bench writes {@linkcode PROBE_BYTES} to a scratch
 * file and times it, again every {@linkcode PROBE_EVERY_MS}, until one write
 * takes at most {@linkcode SETTLED_FACTOR} times the fastest seen in this
 * bench (or {@linkcode SETTLE_MAX_MS} passed). Every tool gets the same
 * wait; a machine without such spells passes at the first probe.
 *
 * @example
 * ```ts
 * import { PageCacheSettler } from "./page_cache.ts";
 *
 * await Deno.mkdir("out/bench", { recursive: true });
 * const settler = new PageCacheSettler("out/bench/.page_cache_probe");
 * const report = await settler.settle();
 * console.log(report.probesMs); // e.g. [ 97, 31 ]: waited one spell out
 * ```
 *
 * @module
 */

/** Bytes written by one probe: long enough to time, short against a run. */
export const PROBE_BYTES = 32 * 1024 * 1024;

/** A probe this many times the fastest one seen counts as back at speed. */
export const SETTLED_FACTOR = 1.5;

/** Pause between two probes, ms. */
export const PROBE_EVERY_MS = 500;

/** The longest wait before a run starts anyway, ms. */
export const SETTLE_MAX_MS = 20_000;

/** Writes `bytes` to `path` and removes it again; returns how long the write took, ms. */
export type Probe = (path: string, bytes: Uint8Array) => Promise<number>;

/** What one wait found. */
export interface SettleReport {
  /** Each probe's time, ms, in order. */
  probesMs: number[];
  /** The fastest probe so far in this bench, ms. */
  bestMs: number;
  /** Seconds from the first probe to the end of the last pause. */
  waitedSeconds: number;
  /** False when {@linkcode SETTLE_MAX_MS} passed first. */
  settled: boolean;
}

/**
 * Writes `bytes` to a new file at `path` (one write), then removes it;
 * returns the write's time in ms.
 *
 * @example
 * ```ts
 * import { writeProbe } from "./page_cache.ts";
 *
 * const ms = await writeProbe("out/.probe", new Uint8Array(1024 * 1024));
 * ```
 */
export async function writeProbe(
  path: string,
  bytes: Uint8Array,
): Promise<number> {
  const started = performance.now();
  await Deno.writeFile(path, bytes);
  const ms = performance.now() - started;
  await Deno.remove(path);
  return ms;
}

/**
 * Remembers the fastest probe of a bench and waits, before each run, for
 * page-cache writes to come back near it.
 *
 * @example
 * ```ts
 * import { PageCacheSettler } from "./page_cache.ts";
 *
 * // Probes that answer 90, 80, then 20 ms, and a pause of 0 ms:
 * const times = [20, 90, 80, 20];
 * const settler = new PageCacheSettler("unused", {
 *   probe: () => Promise.resolve(times.shift()!),
 *   pauseMs: 0,
 * });
 * await settler.settle(); // probesMs [20]: the first sets the best
 * (await settler.settle()).probesMs; // [90, 80, 20]
 * ```
 */
export class PageCacheSettler {
  readonly #path: string;
  readonly #probe: Probe;
  readonly #pauseMs: number;
  readonly #maxMs: number;
  readonly #bytes: Uint8Array;
  #bestMs = Infinity;

  /**
   * Probes write to `path` (its folder must exist); `probe`, `pauseMs`,
   * `maxMs` and `bytes` replace the defaults (tests).
   */
  constructor(
    path: string,
    options: {
      probe?: Probe;
      pauseMs?: number;
      maxMs?: number;
      bytes?: number;
    } = {},
  ) {
    this.#path = path;
    this.#probe = options.probe ?? writeProbe;
    this.#pauseMs = options.pauseMs ?? PROBE_EVERY_MS;
    this.#maxMs = options.maxMs ?? SETTLE_MAX_MS;
    // Not zeros only: a file system may store a page of zeros as a hole.
    this.#bytes = new Uint8Array(options.bytes ?? PROBE_BYTES).fill(0xa5);
  }

  /** Probes until a write is back near the fastest one seen (see the module doc). */
  async settle(): Promise<SettleReport> {
    const started = performance.now();
    const probesMs: number[] = [];
    let settled = false;
    while (true) {
      const ms = await this.#probe(this.#path, this.#bytes);
      probesMs.push(Math.round(ms));
      this.#bestMs = Math.min(this.#bestMs, ms);
      if (ms <= SETTLED_FACTOR * this.#bestMs) {
        settled = true;
        break;
      }
      if (performance.now() - started >= this.#maxMs) break;
      await new Promise((resolve) => setTimeout(resolve, this.#pauseMs));
    }
    return {
      probesMs,
      bestMs: Math.round(this.#bestMs),
      waitedSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
      settled,
    };
  }
}
