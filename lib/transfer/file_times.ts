/**
 * A file's modification time to the microsecond, read and set.
 *
 * OpenMSIStream sends Python's `st_mtime`: seconds since the epoch as a
 * float64, `sec + nsec * 1e-9`, so to about a quarter of a microsecond. Deno
 * 2.9 reads times only to the millisecond (`Deno.stat`, and `node:fs` with
 * `bigint: true` too: its `mtimeNs` ends in six zeros), and `Deno.utime` sets
 * them to the millisecond. So:
 *
 * - {@linkcode mtimeSeconds} asks GNU `stat` (`%.9Y`, nanoseconds; one
 *   process per call, about 1 ms) and computes the float as Python does; where
 *   that cannot run (no `--allow-run=stat`, macOS, Windows) it falls back to
 *   Deno's milliseconds.
 * - {@linkcode setMtimeSeconds} sets the time through `node:fs`'s
 *   `futimesSync`, which passes fractional seconds on: the file gets the
 *   time rounded to the microsecond, plus a quarter of a microsecond (the
 *   float's error is below that until 2038, a half until 2106), so Python,
 *   GNU stat and Deno read back the microsecond (and millisecond) sent.
 *
 * @example
 * ```ts
 * import { mtimeSeconds, setMtimeSeconds } from "./file_times.ts";
 *
 * const info = await Deno.stat("a.bin");
 * const seconds = await mtimeSeconds("a.bin", info.mtime?.getTime() ?? 0);
 * setMtimeSeconds("copy.bin", seconds);
 * ```
 *
 * @module
 */
import { closeSync, futimesSync, openSync } from "node:fs";

/** Nanoseconds past the microsecond that {@linkcode setMtimeSeconds} aims at. */
const NANOS_INSIDE = 250;

/** Whether `stat` answered before; false once it could not run here. */
let statWorks = true;

/**
 * The modification time of `path` in seconds, to the nanosecond as far as a
 * float64 carries it (Python's `st_mtime`). `mtimeMs` is Deno's reading
 * (`Deno.FileInfo.mtime`): it is returned as seconds when `stat` cannot run,
 * and when `stat`'s answer does not agree with it (the file changed between
 * the two: the caller's own check of size and time sees that).
 *
 * @example
 * ```ts
 * const seconds = await mtimeSeconds("data/a.bin", 1700000000123);
 * // 1700000000.1234567 where GNU stat runs, else 1700000000.123
 * ```
 */
export async function mtimeSeconds(
  path: string,
  mtimeMs: number,
): Promise<number> {
  const fallback = mtimeMs / 1000;
  if (!statWorks) return fallback;
  let text: string;
  try {
    const output = await new Deno.Command("stat", {
      args: ["-c", "%.9Y", "--", path],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    text = new TextDecoder().decode(output.stdout).trim();
    if (!output.success) return fallback; // E.g. the file is gone.
  } catch {
    statWorks = false; // No permission, or no GNU stat here.
    return fallback;
  }
  const found = text.match(/^(-?\d+)\.(\d{9})$/);
  if (!found) {
    statWorks = false; // Another stat (BSD) prints something else.
    return fallback;
  }
  const seconds = Number(found[1]);
  const nanoseconds = Number(found[2]);
  // Deno's milliseconds must be the same instant, else keep Deno's.
  if (seconds * 1000 + Math.floor(nanoseconds / 1e6) !== mtimeMs) {
    return fallback;
  }
  return seconds + nanoseconds * 1e-9;
}

/**
 * Sets the modification time of `path` to `seconds` (since the epoch)
 * rounded to the microsecond; the access time becomes now. Synchronous: three
 * quick system calls, cheaper than three trips through the I/O threads (a
 * rebuild of many small files sets one per file).
 *
 * @example
 * ```ts
 * setMtimeSeconds("out/rebuilt/a.bin", 1700000000.123456);
 * ```
 */
export function setMtimeSeconds(path: string, seconds: number): void {
  const microseconds = Math.round(seconds * 1e6);
  const whole = Math.floor(microseconds / 1e6);
  // A float64 near 1.7e9 s is exact to 0.24 µs only: aiming a quarter of a
  // microsecond in, the file's nanoseconds land inside the microsecond (never
  // just below it, which millisecond and microsecond readers would truncate).
  const nanoseconds = (microseconds - whole * 1e6) * 1000 + NANOS_INSIDE;
  const fd = openSync(path, "r+");
  try {
    futimesSync(fd, new Date(), whole + nanoseconds / 1e9);
  } finally {
    closeSync(fd);
  }
}
