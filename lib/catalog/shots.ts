/**
 * Which files are one shot: an oscilloscope writes one file per channel per
 * acquisition (`C1Trace00042.trc`, `C2Trace00042.trc`, ...), with the same
 * sequence number and the same trigger time.
 *
 * The shot key is the file's folder (its resolved path), the file name without its leading trace
 * prefix (`C1`-`C8` channels, `F1`-`F8` math, `M1`-`M8` memories, `Z1`-`Z8`
 * zooms) and without `.trc`, and the trigger time:
 * `/data/day1/Trace00042@2022-10-13T16:29:38.475715`. Files of one acquisition
 * share it; the same number written again later (a new run into the same
 * folder) does not, since its trigger time differs.
 *
 * @example
 * ```ts
 * import { shotKey } from "./shots.ts";
 *
 * shotKey("/data/day1", "C2--run--00007.trc", "2022-10-13T16:29:38.475715");
 * // "/data/day1/--run--00007@2022-10-13T16:29:38.475715"
 * ```
 *
 * @module
 */

/** The trace prefix a LeCroy file name starts with. */
const TRACE_PREFIX = /^(?:[CFMZ][1-8])(?=.)/i;

/**
 * The shot key of a waveform file called `name` in `folder`.
 *
 * @example
 * ```ts
 * shotKey("/data", "C1Trace00001.trc", "2024-02-29T23:59:07.000250"); // "/data/Trace00001@2024-02-29T23:59:07.000250"
 * ```
 */
export function shotKey(
  folder: string,
  name: string,
  triggerTime: string,
): string {
  const stem = name.replace(/\.trc$/i, "").replace(TRACE_PREFIX, "");
  return `${folder}/${stem}@${triggerTime}`;
}
