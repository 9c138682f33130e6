/**
 * Waiting, before a measured run, until writing to the page cache is back at
 * its usual speed.
 *
 * On the 2-core virtual machine the benchmark was built on, a run that
 * wrote hundreds of MB (an upload: the broker's log; a rebuild: its file)
 * leaves the kernel busy for seconds afterwards, and while it is, every new
 * page costs several times as much: 512 MiB written with `dd` took
 * 0.58-1.22 s instead of 0.09-0.10 s (6 to 13 times), all of it system time
 * of the writer. The rebuild writes the file it rebuilds,
 * ConsumerPerformance writes nothing, so a rebuild that started in such a
 * spell ran at 0.65x the Java consumer and the next one at 1.0x (its writes
 * took 1.0-1.6 s of the main thread instead of 0.4; issue 22, the README's
 * Benchmark section).
 *
 * So before every upload and rebuild run of its table the bench writes
 * {@linkcode PROBE_BYTES} to a scratch file and times it, again every
 * {@linkcode PROBE_EVERY_MS}, until one write takes at most
 * {@linkcode SETTLED_FACTOR} times the fastest seen in this bench (in the
 * first wait, of at least two), or {@linkcode SETTLE_MAX_MS} passed. Every
 * tool gets the same wait; a machine without such spells passes at the
 * first probe.
 *
 * What a probe cannot see: the same machine hands memory freed for a few
 * seconds back to its host (virtio-balloon free page reporting), and a page
 * taken back costs the next writer up to ten times as much (`dd`: 1.03 s
 * against 0.09 s). A probe frees its own pages just before the next one, so
 * it always writes to pages still at hand; a rebuild after other tools ran
 * may not (the README's Benchmark section, "new pages on this VM").
 *
 * @example
 * ```ts
 * import { PageCacheSettler } from "./page_cache.ts";
 *
 * await Deno.mkdir("out/bench", { recursive: true });
 * const settler = new PageCacheSettler("out/bench/.page_cache_probe");
 * const report = await settler.settle();
 * console.log(report.probesMs); // e.g. [ 97, 31 ]: a slow write, then one at speed
 * ```
 *
 * @module
 */
import { sleep } from "../common/shutdown.ts";

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
  /** Seconds from the start of the first probe to the end of the last. */
  waitedSeconds: number;
  /** False when {@linkcode SETTLE_MAX_MS} passed first. */
  settled: boolean;
}

/** What a {@linkcode PageCacheSettler} may do differently (tests). */
export interface PageCacheSettlerOptions {
  /** How a probe writes and is timed; default {@linkcode writeProbe}. */
  probe?: Probe;
  /** Pause between two probes, ms; default {@linkcode PROBE_EVERY_MS}. */
  pauseMs?: number;
  /** The longest wait, ms; default {@linkcode SETTLE_MAX_MS}. */
  maxMs?: number;
  /** Bytes one probe writes; default {@linkcode PROBE_BYTES}. */
  probeBytes?: number;
}

/**
 * Writes `bytes` to a new file at `path` (one write) and removes it again,
 * whatever happened; returns the write's time in ms.
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
  try {
    const started = performance.now();
    await Deno.writeFile(path, bytes);
    return performance.now() - started;
  } finally {
    // Not written at all: nothing to remove.
    await Deno.remove(path).catch(() => {});
  }
}

/**
 * Remembers the fastest probe of a bench and waits, before each run, for
 * page-cache writes to come back near it.
 *
 * @example
 * ```ts
 * import { PageCacheSettler } from "./page_cache.ts";
 *
 * // Probes that answer 20, 21, then 90, 80, 20 ms, with no pause between:
 * const times = [20, 21, 90, 80, 20];
 * const settler = new PageCacheSettler("unused", {
 *   probe: () => Promise.resolve(times.shift()!),
 *   pauseMs: 0,
 * });
 * await settler.settle(); // probesMs [20, 21]: the first wait takes two at least
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

  /** Probes write to `path` (its folder must exist). */
  constructor(path: string, options: PageCacheSettlerOptions = {}) {
    this.#path = path;
    this.#probe = options.probe ?? writeProbe;
    this.#pauseMs = options.pauseMs ?? PROBE_EVERY_MS;
    this.#maxMs = options.maxMs ?? SETTLE_MAX_MS;
    // Not zeros only: a file system may store a page of zeros as a hole.
    this.#bytes = new Uint8Array(options.probeBytes ?? PROBE_BYTES).fill(0xa5);
  }

  /**
   * Probes until a write is back near the fastest one seen (see the module
   * doc); a probe time that is not a number of ms counts as slow.
   *
   * @example
   * ```ts
   * import { PageCacheSettler } from "./page_cache.ts";
   *
   * await Deno.mkdir("out/bench", { recursive: true });
   * const settler = new PageCacheSettler("out/bench/.page_cache_probe");
   * const { settled, waitedSeconds } = await settler.settle();
   * ```
   */
  async settle(): Promise<SettleReport> {
    const started = performance.now();
    const probesMs: number[] = [];
    // The first wait of a bench has no best yet: not one probe alone.
    const needed = this.#bestMs === Infinity ? 2 : 1;
    let settled = false;
    while (true) {
      const ms = await this.#probe(this.#path, this.#bytes);
      const valid = Number.isFinite(ms) && ms >= 0;
      probesMs.push(valid ? Math.round(ms) : NaN);
      if (valid) this.#bestMs = Math.min(this.#bestMs, ms);
      if (
        valid && ms <= SETTLED_FACTOR * this.#bestMs &&
        probesMs.length >= needed
      ) {
        settled = true;
        break;
      }
      if (performance.now() - started >= this.#maxMs) break;
      await sleep(this.#pauseMs);
    }
    return {
      probesMs,
      bestMs: Math.round(this.#bestMs),
      waitedSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
      settled,
    };
  }
}
