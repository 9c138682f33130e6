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
 *   process for all the files asked for meanwhile) and computes the float as
 *   Python does; where that cannot run (no `--allow-run=stat`, macOS,
 *   Windows) it falls back to Deno's milliseconds.
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
 * Paths named to one `stat` at most. Starting a process costs 2-5 ms of a
 * big program's time (its memory is mapped anew), so files asked for while
 * one `stat` runs go together to the next: one process per file held an
 * upload of 10,000 small files to 250 files/s (issue 22).
 */
const PATHS_PER_STAT = 256;

/** A file whose time waits for the next `stat`. */
interface Asked {
  path: string;
  mtimeMs: number;
  resolve: (seconds: number) => void;
}

const asked: Asked[] = [];
let statRunning = false;

/**
 * The modification time of `path` in seconds, to the nanosecond as far as a
 * float64 carries it (Python's `st_mtime`). `mtimeMs` is Deno's reading
 * (`Deno.FileInfo.mtime`): it is returned as seconds when `stat` cannot run,
 * and when `stat`'s answer does not agree with it (the file changed between
 * the two: the caller's own check of size and time sees that). Calls made
 * while a `stat` runs share the next one.
 *
 * @example
 * ```ts
 * const seconds = await mtimeSeconds("data/a.bin", 1700000000123);
 * // 1700000000.1234567 where GNU stat runs, else 1700000000.123
 * ```
 */
export function mtimeSeconds(path: string, mtimeMs: number): Promise<number> {
  if (!statWorks) return Promise.resolve(mtimeMs / 1000);
  return new Promise((resolve) => {
    asked.push({ path, mtimeMs, resolve });
    if (!statRunning) void statInTurns();
  });
}

/** Runs `stat` on what is asked, a batch at a time, until nothing is left. */
async function statInTurns(): Promise<void> {
  statRunning = true;
  try {
    while (asked.length > 0) {
      const batch = asked.splice(0, PATHS_PER_STAT);
      // Whatever goes wrong, every caller gets an answer: Deno's reading.
      const answers = await statNanoseconds(batch.map((one) => one.path))
        .catch(() => undefined);
      for (const { path, mtimeMs, resolve } of batch) {
        resolve(agreeing(answers?.get(path), mtimeMs) ?? mtimeMs / 1000);
      }
    }
  } finally {
    statRunning = false;
  }
}

/**
 * GNU `stat`'s `%.9Y` of each path it could read (name and time, each
 * ended by a NUL byte, so any name parses); undefined when `stat` cannot run
 * here (no permission, or not GNU's), which turns the `stat` off for good.
 */
async function statNanoseconds(
  paths: string[],
): Promise<Map<string, string> | undefined> {
  let text: string;
  try {
    const output = await new Deno.Command("stat", {
      args: ["--printf", "%n\\0%.9Y\\0", "--", ...paths],
      stdin: "null",
      stdout: "piped",
      stderr: "null", // A file gone meanwhile is left out, its complaint too.
    }).output();
    text = new TextDecoder().decode(output.stdout);
  } catch {
    statWorks = false; // No permission, or no stat here.
    return undefined;
  }
  const fields = text.split("\0");
  const answers = new Map<string, string>();
  for (let at = 0; at + 1 < fields.length; at += 2) {
    answers.set(fields[at], fields[at + 1]);
  }
  if (answers.size === 0 && text.length > 0) {
    statWorks = false; // Another stat (BSD) prints something else.
  }
  return answers;
}

/**
 * `stat`'s time as Python's float, if it is the instant Deno read
 * (`mtimeMs`); undefined otherwise.
 */
function agreeing(
  text: string | undefined,
  mtimeMs: number,
): number | undefined {
  const found = text?.match(/^(-?\d+)\.(\d{9})$/);
  if (!found) return undefined;
  const seconds = Number(found[1]);
  const nanoseconds = Number(found[2]);
  // Deno's milliseconds must be the same instant, else keep Deno's.
  if (seconds * 1000 + Math.floor(nanoseconds / 1e6) !== mtimeMs) {
    return undefined;
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
