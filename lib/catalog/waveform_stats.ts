/**
 * Values a lab searches by that are not in a LeCroy header but follow from
 * the samples: the record length in seconds, points per segment, and the
 * lowest, highest, mean and RMS value in volts; and each segment's TRIGTIME
 * entry (when a sequence's segments were triggered).
 *
 * The samples are read as a stream through a buffer of
 * {@linkcode STATS_READ_BYTES}, so a capture of any size costs about that much
 * memory. Sums are kept on the raw integers (exact: the sum of squares goes
 * through a BigInt once per buffer), and turned into volts at the end with
 * VERTICAL_GAIN and VERTICAL_OFFSET (volts = gain × raw − offset).
 *
 * @example
 * ```ts
 * import { waveformStats } from "./waveform_stats.ts";
 * import { parseWavedesc } from "./lecroy.ts";
 *
 * const path = "../shared/data/lecroy/pulse.trc";
 * const stats = await waveformStats(path, parseWavedesc(await Deno.readFile(path)));
 * stats.points_per_segment; // 502
 * ```
 *
 * @module
 */
import { LecroyFormatError, type LecroyWaveform } from "./lecroy.ts";
import { readFull } from "../common/read_full.ts";

/** Bytes read from the file at a time (even: a 2-byte sample never splits). */
export const STATS_READ_BYTES = 1 << 20;

/** What the samples of one waveform add up to. */
export interface WaveformStats {
  /** Seconds one segment spans: points per segment × HORIZ_INTERVAL. */
  record_seconds: number;
  /** Samples per segment (WAVE_ARRAY_COUNT / SUBARRAY_COUNT). */
  points_per_segment: number;
  /** The lowest sample, in volts. */
  min_volts: number;
  /** The highest sample, in volts. */
  max_volts: number;
  /** The mean of every sample, in volts. */
  mean_volts: number;
  /** The root mean square of every sample, in volts. */
  rms_volts: number;
}

/** One segment's TRIGTIME entry. */
export interface SegmentTrigger {
  /** 1-based segment number. */
  segment: number;
  /** Seconds from the first segment's trigger to this one's. */
  trigger_seconds: number;
  /** Seconds from this segment's trigger to its first sample. */
  horiz_offset: number;
}

/**
 * The statistics of every sample of the complete waveform at `path`.
 *
 * @throws {LecroyFormatError} when the samples are not all in the file.
 *
 * @example
 * ```ts
 * import { parseWavedesc } from "./lecroy.ts";
 *
 * const path = "../shared/data/lecroy/issue_1.trc";
 * const stats = await waveformStats(path, parseWavedesc(await Deno.readFile(path)));
 * stats.record_seconds; // about 0.01: 100002 points, 100 ns apart
 * ```
 */
export async function waveformStats(
  path: string,
  waveform: LecroyWaveform,
): Promise<WaveformStats> {
  if (!waveform.complete) {
    throw new LecroyFormatError(waveform.incomplete ?? "samples cut off");
  }
  const f = waveform.fields;
  const segments = Math.max(1, Number(f.subarray_count));
  const perSegment = Math.floor(Number(f.wave_array_count) / segments);
  const count = perSegment * segments;
  if (count < 1) throw new LecroyFormatError("no samples");
  using file = await Deno.open(path, { read: true });
  await file.seek(waveform.dataOffset, Deno.SeekMode.Start);
  const buffer = new Uint8Array(STATS_READ_BYTES);
  let low = Infinity;
  let high = -Infinity;
  // Exact below 2^53: at most 2^15 per sample, far fewer than 2^38 samples.
  let sum = 0;
  let sumOfSquares = 0n;
  let remaining = count * waveform.sampleBytes;
  while (remaining > 0) {
    const want = Math.min(buffer.length, remaining);
    const got = await readFull(file, buffer.subarray(0, want));
    if (got < want) throw new LecroyFormatError("samples cut off");
    remaining -= got;
    const view = new DataView(buffer.buffer, 0, got);
    // One buffer's squares stay below 2^53 (2^19 samples × 2^30).
    let squares = 0;
    for (let at = 0; at < got; at += waveform.sampleBytes) {
      const raw = waveform.sampleBytes === 1
        ? view.getInt8(at)
        : view.getInt16(at, waveform.littleEndian);
      if (raw < low) low = raw;
      if (raw > high) high = raw;
      sum += raw;
      squares += raw * raw;
    }
    sumOfSquares += BigInt(squares);
  }
  const gain = Number(f.vertical_gain);
  const offset = Number(f.vertical_offset);
  const meanRaw = sum / count;
  const meanSquareRaw = Number(sumOfSquares) / count;
  // mean((g r - o)^2) = g^2 mean(r^2) - 2 g o mean(r) + o^2
  const meanSquare = gain * gain * meanSquareRaw -
    2 * gain * offset * meanRaw + offset * offset;
  const [lowVolts, highVolts] = [gain * low - offset, gain * high - offset]
    .sort((a, b) => a - b);
  return {
    record_seconds: perSegment * Number(f.horiz_interval),
    points_per_segment: perSegment,
    min_volts: lowVolts,
    max_volts: highVolts,
    mean_volts: gain * meanRaw - offset,
    rms_volts: Math.sqrt(Math.max(0, meanSquare)),
  };
}

/**
 * The TRIGTIME entry of each segment (none for a capture without the array).
 *
 * @throws {LecroyFormatError} when the array is cut off.
 *
 * @example
 * ```ts
 * import { parseWavedesc } from "./lecroy.ts";
 *
 * const path = "../shared/data/lecroy/pulse_sequence.trc";
 * const triggers = await segmentTriggers(path, parseWavedesc(await Deno.readFile(path)));
 * triggers.length; // 20
 * ```
 */
export async function segmentTriggers(
  path: string,
  waveform: LecroyWaveform,
): Promise<SegmentTrigger[]> {
  const f = waveform.fields;
  const segments = Math.max(1, Number(f.subarray_count));
  // TRIGTIME holds (trigger time, trigger offset) doubles per segment.
  if (Number(f.trigtime_array) < segments * 16) return [];
  const bytes = new Uint8Array(segments * 16);
  using file = await Deno.open(path, { read: true });
  await file.seek(waveform.trigtimeOffset, Deno.SeekMode.Start);
  if (await readFull(file, bytes) < bytes.length) {
    throw new LecroyFormatError("TRIGTIME array cut off");
  }
  const view = new DataView(bytes.buffer);
  return Array.from({ length: segments }, (_, s) => ({
    segment: s + 1,
    trigger_seconds: view.getFloat64(s * 16, waveform.littleEndian),
    horiz_offset: view.getFloat64(s * 16 + 8, waveform.littleEndian),
  }));
}
