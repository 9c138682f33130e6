/**
 * The LeCroy WAVEDESC parser (lib/catalog/lecroy.ts): the lab's real captures
 * give their reference values, hand-made files cover what the samples do not
 * (big-endian, 8-bit, no prefix, USERTEXT), and broken files are refused with
 * a reason.
 */
import { deepStrictEqual, throws } from "node:assert/strict";
import {
  LecroyFormatError,
  parseWavedesc,
  readSegments,
} from "../lib/catalog/lecroy.ts";
import { ROOT } from "./helpers/run_task.ts";
import { HANDMADE_FIELDS, makeTrc, SAMPLES } from "./helpers/trc_files.ts";

const expected = JSON.parse(
  await Deno.readTextFile(`${ROOT}${SAMPLES}/expected.json`),
) as Record<string, Record<string, unknown>>;

Deno.test("every WAVEDESC field of the four real captures matches expected.json", async () => {
  for (const [name, reference] of Object.entries(expected)) {
    const bytes = await Deno.readFile(`${ROOT}${SAMPLES}/${name}`);
    const { fields } = parseWavedesc(bytes);
    const { size: _size, sha512: _sha512, ...wavedesc } = reference;
    for (const [field, value] of Object.entries(wavedesc)) {
      deepStrictEqual(fields[field], value, `${name}: ${field}`);
    }
  }
});

Deno.test("a sequence capture reads as 20 segments of 502 points in volts", async () => {
  const bytes = await Deno.readFile(`${ROOT}${SAMPLES}/pulse_sequence.trc`);
  const waveform = parseWavedesc(bytes);
  const segments = readSegments(bytes, waveform);
  deepStrictEqual(segments.length, 20);
  deepStrictEqual(segments.map((s) => s.volts.length), Array(20).fill(502));
  // value = VERTICAL_GAIN * raw - VERTICAL_OFFSET, for the first raw sample.
  const raw = new DataView(bytes.buffer).getInt16(waveform.dataOffset, true);
  deepStrictEqual(
    segments[0].volts[0],
    Number(waveform.fields.vertical_gain) * raw + 1,
  );
});

Deno.test("header.trc parses but says its samples are not in the file", async () => {
  const bytes = await Deno.readFile(`${ROOT}${SAMPLES}/header.trc`);
  const waveform = parseWavedesc(bytes);
  deepStrictEqual(waveform.complete, false);
  throws(() => readSegments(bytes, waveform), LecroyFormatError);
});

for (
  const [label, littleEndian, sampleBytes, prefix] of [
    ["big-endian, 8-bit, no prefix", false, 1, false],
    ["big-endian, 16-bit, with prefix", false, 2, true],
    ["little-endian, 8-bit, no prefix", true, 1, false],
  ] as const
) {
  Deno.test(`a hand-made ${label} file with USERTEXT gives its fields and samples`, () => {
    const samples = [-128, -1, 0, 1, 127, 42];
    const bytes = makeTrc({
      littleEndian,
      sampleBytes,
      prefix,
      usertext: "probe 2, run 17\0\0\0",
      samples,
    });
    const waveform = parseWavedesc(bytes);
    for (const [field, value] of Object.entries(HANDMADE_FIELDS)) {
      deepStrictEqual(waveform.fields[field], value, field);
    }
    deepStrictEqual(waveform.fields.comm_type, sampleBytes - 1);
    deepStrictEqual(waveform.fields.comm_order, littleEndian ? 1 : 0);
    deepStrictEqual(waveform.usertext, "probe 2, run 17");
    deepStrictEqual(waveform.complete, true);
    const [segment] = readSegments(bytes, waveform);
    deepStrictEqual([...segment.volts], samples.map((s) => 0.5 * s + 0.25));
    deepStrictEqual(segment.times[1] - segment.times[0], 0.0009765625);
    deepStrictEqual(segment.times[0], -0.125);
  });
}

Deno.test("a cut-off WAVEDESC and a file that is no LeCroy waveform are refused with the reason", async () => {
  const bytes = await Deno.readFile(`${ROOT}${SAMPLES}/pulse.trc`);
  throws(
    () => parseWavedesc(bytes.subarray(0, 200)),
    (error: Error) =>
      error instanceof LecroyFormatError &&
      /WAVEDESC cut off \(189 of 346 bytes/.test(error.message),
  );
  throws(
    () => parseWavedesc(new TextEncoder().encode("time,volts\n0,1\n")),
    (error: Error) =>
      error instanceof LecroyFormatError && /not a LeCroy/.test(error.message),
  );
  const other = bytes.slice();
  other.set(new TextEncoder().encode("LECROY_9_9"), 11 + 16);
  throws(() => parseWavedesc(other), /template "LECROY_9_9" is not LECROY_2_3/);
});
