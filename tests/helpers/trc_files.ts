/**
 * Hand-made LeCroy `.trc` files for the tests: the lab's samples are all
 * little-endian, 16-bit, with a `#9` prefix, so the other cases the template
 * allows (big-endian, 8-bit samples, no prefix, a USERTEXT block) are written
 * here, byte by byte at the offsets of the LECROY_2_3 template (written out
 * again on purpose: the parser's own table is what is being tested).
 *
 * @module
 */

/** The folder of the real sample captures and their expected.json. */
export const SAMPLES = "../shared/data/lecroy";

/** What a hand-made file holds. */
export interface TrcSpec {
  littleEndian: boolean;
  /** 1 (COMM_TYPE byte) or 2 (word). */
  sampleBytes: 1 | 2;
  /** Add the `#9nnnnnnnnn` prefix. */
  prefix: boolean;
  /** USERTEXT block ('' for none). */
  usertext: string;
  /** Raw samples. */
  samples: number[];
  /** Segments (SUBARRAY_COUNT); more than one adds a TRIGTIME array. */
  segments?: number;
}

/** The fields every hand-made file has, as the parser should report them. */
export const HANDMADE_FIELDS = {
  descriptor_name: "WAVEDESC",
  template_name: "LECROY_2_3",
  wave_descriptor: 346,
  instrument_name: "LECROYHDO4104",
  instrument_number: 19359,
  trace_label: "bench 3",
  vertical_gain: 0.5,
  vertical_offset: -0.25,
  nominal_bits: 8,
  horiz_interval: 0.0009765625,
  horiz_offset: -0.125,
  vertunit: "V",
  horunit: "S",
  trigger_time: "2024-02-29T23:59:07.000250",
  record_type: "peak_detect",
  processing_done: "no_processing",
  timebase: "100_ms/div",
  vert_coupling: "AC,_1MOhm",
  fixed_vert_gain: "5_V/div",
  bandwidth_limit: "on",
  wave_source: "CHANNEL_4",
} as const;

/**
 * The bytes of a `.trc` file with {@linkcode HANDMADE_FIELDS} and `spec`.
 *
 * @example
 * ```ts
 * const bytes = makeTrc({ littleEndian: false, sampleBytes: 1, prefix: false, usertext: "hi", samples: [1, 2] });
 * ```
 */
export function makeTrc(spec: TrcSpec): Uint8Array {
  const le = spec.littleEndian;
  const segments = spec.segments ?? 1;
  const usertext = new TextEncoder().encode(spec.usertext);
  const trigtime = segments > 1 ? segments * 16 : 0;
  const data = spec.samples.length * spec.sampleBytes;
  const desc = new Uint8Array(346);
  const view = new DataView(desc.buffer);
  const text = (at: number, value: string) =>
    desc.set(new TextEncoder().encode(value), at);
  text(0, "WAVEDESC");
  text(16, "LECROY_2_3");
  view.setInt16(32, spec.sampleBytes === 1 ? 0 : 1, le);
  view.setInt16(34, le ? 1 : 0, le);
  view.setInt32(36, 346, le);
  view.setInt32(40, usertext.length, le);
  view.setInt32(48, trigtime, le);
  view.setInt32(60, data, le);
  text(76, HANDMADE_FIELDS.instrument_name);
  view.setInt32(92, HANDMADE_FIELDS.instrument_number, le);
  text(96, HANDMADE_FIELDS.trace_label);
  view.setInt32(116, spec.samples.length, le);
  view.setInt32(144, segments, le);
  view.setFloat32(156, HANDMADE_FIELDS.vertical_gain, le);
  view.setFloat32(160, HANDMADE_FIELDS.vertical_offset, le);
  view.setInt16(172, HANDMADE_FIELDS.nominal_bits, le);
  view.setFloat32(176, HANDMADE_FIELDS.horiz_interval, le);
  view.setFloat64(180, HANDMADE_FIELDS.horiz_offset, le);
  text(196, "V");
  text(244, "S");
  // TRIGGER_TIME: seconds (double), minutes, hours, days, months, year.
  view.setFloat64(296, 7.00025, le);
  desc.set([59, 23, 29, 2], 304);
  view.setInt16(308, 2024, le);
  view.setInt16(316, 9, le); // peak_detect
  view.setInt16(324, 33, le); // 100_ms/div
  view.setInt16(326, 4, le); // AC,_1MOhm
  view.setInt16(332, 20, le); // 5_V/div
  view.setInt16(334, 1, le); // bandwidth limit on
  view.setInt16(344, 3, le); // CHANNEL_4

  const times = new Uint8Array(trigtime);
  const timesView = new DataView(times.buffer);
  for (let s = 0; s < segments && trigtime > 0; s++) {
    timesView.setFloat64(s * 16, s * 0.01, le);
    timesView.setFloat64(s * 16 + 8, HANDMADE_FIELDS.horiz_offset, le);
  }
  const samples = new Uint8Array(data);
  const samplesView = new DataView(samples.buffer);
  spec.samples.forEach((value, i) => {
    if (spec.sampleBytes === 1) samplesView.setInt8(i, value);
    else samplesView.setInt16(i * 2, value, le);
  });
  const body = [desc, usertext, times, samples];
  const length = body.reduce((n, part) => n + part.length, 0);
  const prefix = spec.prefix
    ? new TextEncoder().encode(`#9${String(length).padStart(9, "0")}`)
    : new Uint8Array();
  const file = new Uint8Array(prefix.length + length);
  let at = 0;
  for (const part of [prefix, ...body]) {
    file.set(part, at);
    at += part.length;
  }
  return file;
}

/** Raw sample value of the spike in {@linkcode writeLargeTrc}'s files. */
export const LARGE_TRC_SPIKE = 30000;

/**
 * Writes a little-endian 16-bit `.trc` file of `sampleCount` samples (no
 * prefix, so it may pass 1 GB) without holding it in memory: a sine of
 * amplitude 100, and one spike of {@linkcode LARGE_TRC_SPIKE} in the middle
 * that a correct min/max decimation keeps. Returns the file's size.
 *
 * @example
 * ```ts
 * await writeLargeTrc("/tmp/big.trc", 128 * 1024 * 1024);
 * ```
 */
export async function writeLargeTrc(
  path: string,
  sampleCount: number,
): Promise<number> {
  const header = makeTrc({
    littleEndian: true,
    sampleBytes: 2,
    prefix: false,
    usertext: "",
    samples: [],
  });
  const view = new DataView(header.buffer);
  view.setInt32(60, sampleCount * 2, true); // WAVE_ARRAY_1
  view.setInt32(116, sampleCount, true); // WAVE_ARRAY_COUNT
  view.setFloat32(176, 1e-9, true); // HORIZ_INTERVAL: 1 ns
  using file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  await writeAll(file, header);
  const chunk = new Int16Array(1 << 20);
  const period = chunk.length / 4;
  for (let i = 0; i < chunk.length; i++) {
    chunk[i] = Math.round(100 * Math.sin((2 * Math.PI * i) / period));
  }
  const spikeAt = Math.floor(sampleCount / 2);
  for (let at = 0; at < sampleCount; at += chunk.length) {
    const n = Math.min(chunk.length, sampleCount - at);
    const part = chunk.slice(0, n);
    if (spikeAt >= at && spikeAt < at + n) part[spikeAt - at] = LARGE_TRC_SPIKE;
    await writeAll(file, new Uint8Array(part.buffer));
  }
  return header.length + sampleCount * 2;
}

/** Writes all of `bytes`. */
async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    at += await file.write(bytes.subarray(at));
  }
}
