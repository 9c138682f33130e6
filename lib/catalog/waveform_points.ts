/**
 * The points a plot of a LeCroy waveform needs, read as a stream: a capture
 * of any size costs a few MiB of memory, not the whole file.
 *
 * The samples go through a buffer of {@linkcode READ_BYTES}; each segment is
 * cut into columns, and each column keeps its lowest and its highest sample
 * (min/max decimation), so that a spike one sample wide still shows. A
 * segment short enough keeps every sample. Times are seconds from the
 * segment's trigger (TRIGTIME for sequences, HORIZ_OFFSET otherwise), values
 * are in VERTUNIT (volts).
 *
 * @example
 * ```ts
 * import { plotPoints } from "./waveform_points.ts";
 * import { parseWavedesc } from "./lecroy.ts";
 *
 * const path = "../shared/data/lecroy/pulse_sequence.trc";
 * const traces = await plotPoints(path, parseWavedesc(await Deno.readFile(path)), 3000);
 * traces.length; // 20 segments
 * ```
 *
 * @module
 */
import { LecroyFormatError, type LecroyWaveform } from "./lecroy.ts";
import { readFull } from "../common/read_full.ts";

/** Bytes read from the file at a time (even: a 2-byte sample never splits). */
export const READ_BYTES = 1 << 20;

/** One segment's points: `[seconds, volts]` in time order. */
export type Trace = [number, number][];

/**
 * Reads the samples of the complete waveform in the file at `path` and
 * returns at most about `maxPoints` points over all its segments.
 *
 * @throws {LecroyFormatError} when the samples are not all in the file.
 *
 * @example
 * ```ts
 * import { parseWavedesc } from "./lecroy.ts";
 *
 * const path = "../shared/data/lecroy/issue_1.trc";
 * const [trace] = await plotPoints(path, parseWavedesc(await Deno.readFile(path)), 3000);
 * trace.length; // 3000: 100002 samples, 1500 columns
 * ```
 */
export async function plotPoints(
  path: string,
  waveform: LecroyWaveform,
  maxPoints: number,
): Promise<Trace[]> {
  if (!waveform.complete) {
    throw new LecroyFormatError(waveform.incomplete ?? "samples cut off");
  }
  const f = waveform.fields;
  const segments = Math.max(1, Number(f.subarray_count));
  const perSegment = Math.floor(Number(f.wave_array_count) / segments);
  if (perSegment < 1) throw new LecroyFormatError("no samples to draw");
  const columns = Math.max(1, Math.floor(maxPoints / 2 / segments));
  using file = await Deno.open(path, { read: true });
  const starts = await segmentStarts(file, waveform, segments);
  await file.seek(waveform.dataOffset, Deno.SeekMode.Start);
  const gain = Number(f.vertical_gain);
  const offset = Number(f.vertical_offset);
  const interval = Number(f.horiz_interval);
  const traces: Trace[] = [];
  let segment = new SegmentColumns(perSegment, columns);
  const buffer = new Uint8Array(READ_BYTES);
  let remaining = segments * perSegment * waveform.sampleBytes;
  while (remaining > 0) {
    const want = Math.min(buffer.length, remaining);
    const got = await readFull(file, buffer.subarray(0, want));
    if (got < want) throw new LecroyFormatError("samples cut off");
    remaining -= got;
    const view = new DataView(buffer.buffer, 0, got);
    for (let at = 0; at < got; at += waveform.sampleBytes) {
      const raw = waveform.sampleBytes === 1
        ? view.getInt8(at)
        : view.getInt16(at, waveform.littleEndian);
      if (segment.add(raw)) {
        // A segment is whole: its points in seconds and volts.
        const start = starts[traces.length];
        traces.push(
          segment.points.map(([i, value]) => [
            start + i * interval,
            gain * value - offset,
          ]),
        );
        segment = new SegmentColumns(perSegment, columns);
      }
    }
  }
  return traces;
}

/** Min/max decimation of one segment, fed one raw sample at a time. */
class SegmentColumns {
  /** `[sample index, raw value]` kept so far, in index order. */
  readonly points: [number, number][] = [];
  readonly #length: number;
  readonly #columns: number;
  readonly #keepAll: boolean;
  #index = 0;
  #column = 0;
  #columnEnd: number;
  #lo: [number, number] = [0, Infinity];
  #hi: [number, number] = [0, -Infinity];

  constructor(length: number, columns: number) {
    this.#length = length;
    this.#columns = columns;
    this.#keepAll = length <= columns * 2;
    this.#columnEnd = Math.floor(length / columns);
  }

  /** Takes the next sample; true once the segment's last one is in. */
  add(raw: number): boolean {
    const i = this.#index++;
    if (this.#keepAll) {
      this.points.push([i, raw]);
    } else {
      if (i === this.#columnEnd) this.#nextColumn();
      if (raw < this.#lo[1]) this.#lo = [i, raw];
      if (raw > this.#hi[1]) this.#hi = [i, raw];
      if (this.#index === this.#length) this.#flush();
    }
    return this.#index === this.#length;
  }

  /** Closes the current column and starts the next. */
  #nextColumn(): void {
    this.#flush();
    this.#column++;
    this.#columnEnd = Math.floor(
      ((this.#column + 1) * this.#length) / this.#columns,
    );
  }

  /** Keeps the column's lowest and highest sample, in time order. */
  #flush(): void {
    const [first, second] = this.#lo[0] <= this.#hi[0]
      ? [this.#lo, this.#hi]
      : [this.#hi, this.#lo];
    this.points.push(first);
    if (second[0] !== first[0]) this.points.push(second);
    this.#lo = [0, Infinity];
    this.#hi = [0, -Infinity];
  }
}

/** Each segment's first sample time: from TRIGTIME, or HORIZ_OFFSET. */
async function segmentStarts(
  file: Deno.FsFile,
  waveform: LecroyWaveform,
  segments: number,
): Promise<number[]> {
  const f = waveform.fields;
  // TRIGTIME holds (trigger time, trigger offset) doubles per segment.
  if (Number(f.trigtime_array) < segments * 16) {
    return new Array(segments).fill(Number(f.horiz_offset));
  }
  const bytes = new Uint8Array(segments * 16);
  await file.seek(waveform.trigtimeOffset, Deno.SeekMode.Start);
  if (await readFull(file, bytes) < bytes.length) {
    throw new LecroyFormatError("TRIGTIME array cut off");
  }
  const view = new DataView(bytes.buffer);
  return Array.from(
    { length: segments },
    (_, s) => view.getFloat64(s * 16 + 8, waveform.littleEndian),
  );
}
