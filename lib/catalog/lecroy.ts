/**
 * Teledyne LeCroy waveform files (`.trc`): the WAVEDESC block that describes
 * a capture, and its samples in volts.
 *
 * A `.trc` file is what a LeCroy scope writes for `STORE` or returns for
 * `WF?`: an optional `#9nnnnnnnnn` prefix (IEEE 488.2 block header), then the
 * blocks of the scope's template `LECROY_2_3`, in this order: WAVEDESC (346
 * bytes, every field at a fixed offset), USERTEXT, RES_DESC1, TRIGTIME
 * (sequence captures: trigger time and offset of each segment), RIS_TIME,
 * RES_ARRAY1, then the samples (WAVE_ARRAY_1). The lengths of the blocks after
 * WAVEDESC are fields of WAVEDESC. COMM_ORDER says the byte order of every
 * number in the file, COMM_TYPE the width of one sample (1 or 2 bytes).
 *
 * {@linkcode parseWavedesc} follows the template: field names lower-cased,
 * enums as the template's own text, strings without their NUL padding, and
 * TRIGGER_TIME as ISO 8601 local time (the scope's clock has no zone).
 *
 * @example
 * ```ts
 * import { parseWavedesc } from "./lecroy.ts";
 *
 * const bytes = await Deno.readFile("../shared/data/lecroy/pulse.trc");
 * const waveform = parseWavedesc(bytes);
 * waveform.fields.instrument_name; // "LECROYWR64Xi-A"
 * waveform.fields.timebase; // "50_ns/div"
 * ```
 *
 * @module
 */

/** The only template this parser knows. */
export const TEMPLATE_NAME = "LECROY_2_3";

/** Bytes in a LECROY_2_3 WAVEDESC block. */
export const WAVEDESC_BYTES = 346;

/** How one WAVEDESC field is stored. */
export type FieldType =
  | "string"
  | "word"
  | "long"
  | "float"
  | "double"
  | "enum"
  | "unit_definition"
  | "time_stamp";

/** One field of the template: where it is, how it is stored, its enum texts. */
export interface FieldDef {
  /** Byte offset inside WAVEDESC. */
  offset: number;
  /** The template's name, lower-cased (also the database column). */
  name: string;
  /** How the field is stored. */
  type: FieldType;
  /** For enums: the template's text of each value. */
  values?: Readonly<Record<number, string>>;
}

/** The 1-2-5 steps of TIMEBASE and FIXED_VERT_GAIN, e.g. `200_ns/div`. */
function steps125(units: string[], suffix: string): Record<number, string> {
  const texts: Record<number, string> = {};
  let i = 0;
  for (const unit of units) {
    for (const step of [1, 2, 5, 10, 20, 50, 100, 200, 500]) {
      texts[i++] = `${step}_${unit}${suffix}`;
    }
  }
  return texts;
}

/** TIMEBASE: 1 ps/div to 5 ks/div in 1-2-5 steps, and EXTERNAL. */
const TIMEBASES: Record<number, string> = {
  ...Object.fromEntries(
    Object.entries(steps125(["ps", "ns", "us", "ms", "s", "ks"], "/div"))
      .filter(([i]) => Number(i) <= 47),
  ),
  100: "EXTERNAL",
};

/** FIXED_VERT_GAIN: 1 uV/div to 1 kV/div in 1-2-5 steps. */
const VERT_GAINS: Record<number, string> = Object.fromEntries(
  Object.entries(steps125(["uV", "mV", "V", "kV"], "/div"))
    .filter(([i]) => Number(i) <= 27),
);

/**
 * Every field of WAVEDESC in template LECROY_2_3, in file order. COMM_TYPE
 * and COMM_ORDER are kept as numbers (0/1), as the reference values of the
 * lab's sample files have them; their meaning is in `sampleBytes` and
 * `littleEndian` of {@linkcode LecroyWaveform}.
 */
export const WAVEDESC_FIELDS: readonly FieldDef[] = [
  { offset: 0, name: "descriptor_name", type: "string" },
  { offset: 16, name: "template_name", type: "string" },
  { offset: 32, name: "comm_type", type: "word" },
  { offset: 34, name: "comm_order", type: "word" },
  { offset: 36, name: "wave_descriptor", type: "long" },
  { offset: 40, name: "user_text", type: "long" },
  { offset: 44, name: "res_desc1", type: "long" },
  { offset: 48, name: "trigtime_array", type: "long" },
  { offset: 52, name: "ris_time_array", type: "long" },
  { offset: 56, name: "res_array1", type: "long" },
  { offset: 60, name: "wave_array_1", type: "long" },
  { offset: 64, name: "wave_array_2", type: "long" },
  { offset: 68, name: "res_array2", type: "long" },
  { offset: 72, name: "res_array3", type: "long" },
  { offset: 76, name: "instrument_name", type: "string" },
  { offset: 92, name: "instrument_number", type: "long" },
  { offset: 96, name: "trace_label", type: "string" },
  { offset: 112, name: "reserved1", type: "word" },
  { offset: 114, name: "reserved2", type: "word" },
  { offset: 116, name: "wave_array_count", type: "long" },
  { offset: 120, name: "pnts_per_screen", type: "long" },
  { offset: 124, name: "first_valid_pnt", type: "long" },
  { offset: 128, name: "last_valid_pnt", type: "long" },
  { offset: 132, name: "first_point", type: "long" },
  { offset: 136, name: "sparsing_factor", type: "long" },
  { offset: 140, name: "segment_index", type: "long" },
  { offset: 144, name: "subarray_count", type: "long" },
  { offset: 148, name: "sweeps_per_acq", type: "long" },
  { offset: 152, name: "points_per_pair", type: "word" },
  { offset: 154, name: "pair_offset", type: "word" },
  { offset: 156, name: "vertical_gain", type: "float" },
  { offset: 160, name: "vertical_offset", type: "float" },
  { offset: 164, name: "max_value", type: "float" },
  { offset: 168, name: "min_value", type: "float" },
  { offset: 172, name: "nominal_bits", type: "word" },
  { offset: 174, name: "nom_subarray_count", type: "word" },
  { offset: 176, name: "horiz_interval", type: "float" },
  { offset: 180, name: "horiz_offset", type: "double" },
  { offset: 188, name: "pixel_offset", type: "double" },
  { offset: 196, name: "vertunit", type: "unit_definition" },
  { offset: 244, name: "horunit", type: "unit_definition" },
  { offset: 292, name: "horiz_uncertainty", type: "float" },
  { offset: 296, name: "trigger_time", type: "time_stamp" },
  { offset: 312, name: "acq_duration", type: "float" },
  {
    offset: 316,
    name: "record_type",
    type: "enum",
    values: {
      0: "single_sweep",
      1: "interleaved",
      2: "histogram",
      3: "graph",
      4: "filter_coefficient",
      5: "complex",
      6: "extrema",
      7: "sequence_obsolete",
      8: "centered_RIS",
      9: "peak_detect",
    },
  },
  {
    offset: 318,
    name: "processing_done",
    type: "enum",
    values: {
      0: "no_processing",
      1: "fir_filter",
      2: "interpolated",
      3: "sparsed",
      4: "autoscaled",
      5: "no_result",
      6: "rolling",
      7: "cumulative",
    },
  },
  { offset: 320, name: "reserved5", type: "word" },
  { offset: 322, name: "ris_sweeps", type: "word" },
  { offset: 324, name: "timebase", type: "enum", values: TIMEBASES },
  {
    offset: 326,
    name: "vert_coupling",
    type: "enum",
    values: {
      0: "DC_50_Ohms",
      1: "ground",
      2: "DC_1MOhm",
      3: "ground",
      4: "AC,_1MOhm",
    },
  },
  { offset: 328, name: "probe_att", type: "float" },
  { offset: 332, name: "fixed_vert_gain", type: "enum", values: VERT_GAINS },
  {
    offset: 334,
    name: "bandwidth_limit",
    type: "enum",
    values: { 0: "off", 1: "on" },
  },
  { offset: 336, name: "vertical_vernier", type: "float" },
  { offset: 340, name: "acq_vert_offset", type: "float" },
  {
    offset: 344,
    name: "wave_source",
    type: "enum",
    values: {
      0: "CHANNEL_1",
      1: "CHANNEL_2",
      2: "CHANNEL_3",
      3: "CHANNEL_4",
      9: "UNKNOWN",
    },
  },
];

/** One parsed WAVEDESC value: text, or a number. */
export type FieldValue = string | number;

/** A parsed `.trc` file: its WAVEDESC and where its blocks are. */
export interface LecroyWaveform {
  /** Every WAVEDESC field by its lower-cased template name. */
  fields: Record<string, FieldValue>;
  /** The USERTEXT block's text ('' when there is none). */
  usertext: string;
  /** Where WAVEDESC starts in the file (11 after a `#9` prefix, else 0). */
  descriptorOffset: number;
  /** COMM_ORDER: LOFIRST (true) or HIFIRST (false). */
  littleEndian: boolean;
  /** COMM_TYPE: bytes per sample, 1 (byte) or 2 (word). */
  sampleBytes: 1 | 2;
  /** Where the samples (WAVE_ARRAY_1) start in the file. */
  dataOffset: number;
  /** Where the TRIGTIME array starts in the file (sequence captures). */
  trigtimeOffset: number;
  /** Bytes the whole waveform needs; more than the file has when cut off. */
  expectedBytes: number;
  /** Whether every sample is in the file. */
  complete: boolean;
  /** When not `complete`: why the samples cannot be read, for one warning. */
  incomplete?: string;
}

/** A file that is no LeCroy waveform, or whose WAVEDESC is cut off. */
export class LecroyFormatError extends Error {
  /** An error that says what is wrong with the file. */
  constructor(message: string) {
    super(message);
    this.name = "LecroyFormatError";
  }
}

/** The years a TRIGGER_TIME may have (a scope's clock, reset or not). */
const MIN_YEAR = 1900;
const MAX_YEAR = 2999;

/** How far into a file WAVEDESC may start (after a prefix such as `#9...`). */
const MAX_PREFIX_BYTES = 64;

const ascii = new TextDecoder("latin1");

/**
 * Parses the WAVEDESC (and USERTEXT) of a `.trc` file whose first bytes are
 * `bytes` (the whole file, or at least its first few KiB).
 *
 * @throws {LecroyFormatError} when the bytes hold no complete LECROY_2_3
 * WAVEDESC.
 *
 * @example
 * ```ts
 * const waveform = parseWavedesc(await Deno.readFile("../shared/data/lecroy/header.trc"));
 * waveform.fields.subarray_count; // 200
 * waveform.complete; // false: the samples are not in that file
 * ```
 */
export function parseWavedesc(
  bytes: Uint8Array,
  fileSize: number = bytes.length,
): LecroyWaveform {
  const start = findDescriptor(bytes);
  if (bytes.length < start + WAVEDESC_BYTES) {
    throw new LecroyFormatError(
      `WAVEDESC cut off (${
        bytes.length - start
      } of ${WAVEDESC_BYTES} bytes in the file)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + start);
  const template = readString(bytes, start + 16, 16);
  if (template !== TEMPLATE_NAME) {
    throw new LecroyFormatError(
      `template "${template}" is not ${TEMPLATE_NAME}`,
    );
  }
  // COMM_ORDER is 0 (HIFIRST: bytes 00 00) or 1 (LOFIRST: bytes 01 00).
  const order = view.getUint16(34, true);
  if (order !== 0 && order !== 1) {
    throw new LecroyFormatError(`COMM_ORDER ${order} is neither 0 nor 1`);
  }
  const littleEndian = order === 1;
  const fields: Record<string, FieldValue> = {};
  for (const field of WAVEDESC_FIELDS) {
    fields[field.name] = readField(bytes, view, start, field, littleEndian);
  }
  const commType = fields.comm_type;
  if (commType !== 0 && commType !== 1) {
    throw new LecroyFormatError(`COMM_TYPE ${commType} is neither 0 nor 1`);
  }
  // Random bytes that happen to follow "WAVEDESC...LECROY_2_3" stop here.
  checkLengths(fields, fileSize);
  checkTimeStamp(view, 296, littleEndian);
  const length = (name: string) => Number(fields[name]);
  const userTextAt = start + length("wave_descriptor");
  const trigtimeOffset = userTextAt + length("user_text") +
    length("res_desc1");
  const dataOffset = trigtimeOffset + length("trigtime_array") +
    length("ris_time_array") + length("res_array1");
  const expectedBytes = dataOffset + length("wave_array_1") +
    length("wave_array_2") + length("res_array2") + length("res_array3");
  const usertext = readString(
    bytes,
    userTextAt,
    Math.min(length("user_text"), Math.max(0, bytes.length - userTextAt)),
  );
  const sampleBytes = commType === 0 ? 1 : 2;
  const samples = Number(fields.wave_array_count);
  const incomplete = fileSize < dataOffset + length("wave_array_1")
    ? `data cut off: ${fileSize} of ${expectedBytes} bytes`
    : samples * sampleBytes > length("wave_array_1")
    ? `WAVE_ARRAY_COUNT says ${samples} samples, WAVE_ARRAY_1 holds ${
      Math.floor(length("wave_array_1") / sampleBytes)
    }`
    : undefined;
  return {
    fields,
    usertext,
    descriptorOffset: start,
    littleEndian,
    sampleBytes,
    dataOffset,
    trigtimeOffset,
    expectedBytes,
    complete: incomplete === undefined,
    ...(incomplete === undefined ? {} : { incomplete }),
  };
}

/** The WAVEDESC fields that give the length of a block, in file order. */
const BLOCK_LENGTHS = [
  "user_text",
  "res_desc1",
  "trigtime_array",
  "ris_time_array",
  "res_array1",
  "wave_array_1",
  "wave_array_2",
  "res_array2",
  "res_array3",
];

/** Throws unless the block lengths and counts can be those of a real file. */
function checkLengths(
  fields: Record<string, FieldValue>,
  fileSize: number,
): void {
  const descriptor = Number(fields.wave_descriptor);
  if (descriptor !== WAVEDESC_BYTES) {
    throw new LecroyFormatError(
      `WAVE_DESCRIPTOR is ${descriptor} bytes, not ${WAVEDESC_BYTES}`,
    );
  }
  for (const name of [...BLOCK_LENGTHS, "wave_array_count", "subarray_count"]) {
    if (Number(fields[name]) < 0) {
      throw new LecroyFormatError(
        `${name.toUpperCase()} is ${fields[name]}, below 0`,
      );
    }
  }
  if (Number(fields.user_text) > fileSize) {
    throw new LecroyFormatError(
      `USER_TEXT is ${fields.user_text} bytes, more than the whole file (${fileSize})`,
    );
  }
}

/** Throws unless the TRIGGER_TIME at `at` is a real date and time. */
function checkTimeStamp(
  view: DataView,
  at: number,
  littleEndian: boolean,
): void {
  const seconds = view.getFloat64(at, littleEndian);
  const [minutes, hours, days, months] = [8, 9, 10, 11].map((i) =>
    view.getUint8(at + i)
  );
  const year = view.getInt16(at + 12, littleEndian);
  const wrong = !(seconds >= 0 && seconds < 60)
    ? `seconds ${seconds}`
    : minutes > 59
    ? `minutes ${minutes}`
    : hours > 23
    ? `hours ${hours}`
    : days < 1 || days > 31
    ? `day ${days}`
    : months < 1 || months > 12
    ? `month ${months}`
    : year < MIN_YEAR || year > MAX_YEAR
    ? `year ${year}`
    : undefined;
  if (wrong) {
    throw new LecroyFormatError(`TRIGGER_TIME has ${wrong}: no real date`);
  }
}

/** Where "WAVEDESC" starts: at 0, after a `#9nnnnnnnnn` prefix, or soon after. */
function findDescriptor(bytes: Uint8Array): number {
  const head = ascii.decode(
    bytes.subarray(0, MAX_PREFIX_BYTES + "WAVEDESC".length),
  );
  const at = head.indexOf("WAVEDESC");
  if (at < 0) {
    throw new LecroyFormatError(
      bytes.length < "WAVEDESC".length
        ? `only ${bytes.length} bytes, no WAVEDESC`
        : "no WAVEDESC block at its start: not a LeCroy waveform",
    );
  }
  return at;
}

/** Reads one field at its offset, in the file's byte order. */
function readField(
  bytes: Uint8Array,
  view: DataView,
  start: number,
  field: FieldDef,
  littleEndian: boolean,
): FieldValue {
  const at = field.offset;
  switch (field.type) {
    case "string":
      return readString(bytes, start + at, 16);
    case "unit_definition":
      return readString(bytes, start + at, 48);
    case "word":
      return view.getInt16(at, littleEndian);
    case "long":
      return view.getInt32(at, littleEndian);
    case "float":
      return view.getFloat32(at, littleEndian);
    case "double":
      return view.getFloat64(at, littleEndian);
    case "enum": {
      const value = view.getInt16(at, littleEndian);
      return field.values?.[value] ?? `unknown_${value}`;
    }
    case "time_stamp":
      return readTimeStamp(view, at, littleEndian);
  }
}

/** A NUL-padded ASCII string, without its padding. */
function readString(bytes: Uint8Array, at: number, length: number): string {
  const raw = ascii.decode(bytes.subarray(at, at + length));
  const end = raw.indexOf("\0");
  return end < 0 ? raw : raw.slice(0, end);
}

/**
 * A time_stamp (double seconds, byte minutes, hours, days, months, word year)
 * as `YYYY-MM-DDTHH:MM:SS.ffffff`, local scope time.
 */
function readTimeStamp(
  view: DataView,
  at: number,
  littleEndian: boolean,
): string {
  // Whole microseconds; never 60.000000 from rounding.
  const micros = Math.min(
    Math.round(view.getFloat64(at, littleEndian) * 1e6),
    59_999_999,
  );
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  const seconds = `${pad(Math.floor(micros / 1e6))}.${pad(micros % 1e6, 6)}`;
  const [minutes, hours, days, months] = [8, 9, 10, 11].map((i) =>
    view.getUint8(at + i)
  );
  const year = view.getInt16(at + 12, littleEndian);
  return `${pad(year, 4)}-${pad(months)}-${pad(days)}T${pad(hours)}:${
    pad(minutes)
  }:${seconds}`;
}

/** One segment of a capture: times in seconds and values in volts. */
export interface Segment {
  /** Time of each sample, seconds from the segment's trigger. */
  times: Float64Array;
  /** Each sample in volts (VERTUNIT). */
  volts: Float64Array;
}

/**
 * The samples of a complete waveform, segment by segment (one segment unless
 * the capture is a sequence), in volts against seconds.
 *
 * @example
 * ```ts
 * const bytes = await Deno.readFile("../shared/data/lecroy/pulse_sequence.trc");
 * const segments = readSegments(bytes, parseWavedesc(bytes));
 * segments.length; // 20
 * ```
 */
export function readSegments(
  bytes: Uint8Array,
  waveform: LecroyWaveform,
): Segment[] {
  const f = waveform.fields;
  const count = Number(f.wave_array_count);
  const segments = Math.max(1, Number(f.subarray_count));
  const perSegment = Math.floor(count / segments);
  const available = Math.floor(
    (bytes.length - waveform.dataOffset) / waveform.sampleBytes,
  );
  if (!waveform.complete || available < count) {
    throw new LecroyFormatError("samples cut off");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const gain = Number(f.vertical_gain);
  const offset = Number(f.vertical_offset);
  const interval = Number(f.horiz_interval);
  const hasTrigtimes = Number(f.trigtime_array) >= segments * 16;
  const result: Segment[] = [];
  for (let s = 0; s < segments; s++) {
    // TRIGTIME holds (trigger time, trigger offset) doubles per segment.
    const start = hasTrigtimes
      ? view.getFloat64(
        waveform.trigtimeOffset + s * 16 + 8,
        waveform.littleEndian,
      )
      : Number(f.horiz_offset);
    const times = new Float64Array(perSegment);
    const volts = new Float64Array(perSegment);
    for (let i = 0; i < perSegment; i++) {
      const at = waveform.dataOffset +
        (s * perSegment + i) * waveform.sampleBytes;
      const raw = waveform.sampleBytes === 1
        ? view.getInt8(at)
        : view.getInt16(at, waveform.littleEndian);
      times[i] = start + i * interval;
      volts[i] = gain * raw - offset;
    }
    result.push({ times, volts });
  }
  return result;
}
