/**
 * The catalog as a lab searches it, on SQLite and on a throwaway PostgreSQL:
 * statistics in volts and each segment's TRIGTIME (checked against a
 * computation written here, from the raw bytes and expected.json's gain and
 * offset), shots that group C1..C4 of one acquisition, filters on trigger
 * time, channel, timebase, coupling, serial and tags, and a catalog made by
 * the version before the history (commit dea21a7) upgraded in place.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { onBothDatabases, queryRows } from "./helpers/catalog_db.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";
import { makeTrc, SAMPLES } from "./helpers/trc_files.ts";

/** The fields of expected.json this test reads. */
interface Expected {
  size: number;
  user_text: number;
  trigtime_array: number;
  ris_time_array: number;
  wave_array_count: number;
  subarray_count: number;
  vertical_gain: number;
  vertical_offset: number;
  horiz_interval: number;
  instrument_number: number;
  vert_coupling: string;
  trigger_time: string;
}
const expected = JSON.parse(
  await Deno.readTextFile(`${ROOT}${SAMPLES}/expected.json`),
) as Record<string, Expected>;

/** min, max, mean and RMS in volts, the plain way: every sample in memory. */
function referenceStats(volts: number[]) {
  let sum = 0;
  let squares = 0;
  for (const v of volts) {
    sum += v;
    squares += v * v;
  }
  return {
    min_volts: Math.min(...volts),
    max_volts: Math.max(...volts),
    mean_volts: sum / volts.length,
    rms_volts: Math.sqrt(squares / volts.length),
  };
}

/** A sample capture's volts and TRIGTIME pairs, read at the template's offsets. */
async function readSample(name: string) {
  const e = expected[name];
  const bytes = await Deno.readFile(`${ROOT}${SAMPLES}/${name}`);
  const view = new DataView(bytes.buffer);
  // "#9nnnnnnnnn" prefix, WAVEDESC, USERTEXT, then TRIGTIME, RIS, samples.
  const trigtimeAt = 11 + 346 + e.user_text;
  const dataAt = trigtimeAt + e.trigtime_array + e.ris_time_array;
  const volts = Array.from(
    { length: e.wave_array_count },
    (_, i) =>
      e.vertical_gain * view.getInt16(dataAt + 2 * i, true) -
      e.vertical_offset,
  );
  const triggers = Array.from(
    { length: e.trigtime_array / 16 },
    (_, s) => [
      s + 1,
      view.getFloat64(trigtimeAt + 16 * s, true),
      view.getFloat64(trigtimeAt + 16 * s + 8, true),
    ],
  );
  return { volts, triggers };
}

/** Whether `a` and `b` agree to 1e-12 of the larger. */
function close(a: unknown, b: number): boolean {
  return Math.abs(Number(a) - b) <= 1e-12 * Math.max(1, Math.abs(b));
}

Deno.test("statistics in volts, record length and each segment's TRIGTIME match a computation from the raw samples", async (t) => {
  const dir = await makeOutTempDir("catalog-stats");
  // Big-endian, 8-bit, two segments: the other branch of the sample reader.
  const handmade = `${dir}/bench.trc`;
  const samples = [-3, 5, 7, -1, 0, 127];
  await Deno.writeFile(
    `${ROOT}${handmade}`,
    makeTrc({
      littleEndian: false,
      sampleBytes: 1,
      prefix: false,
      usertext: "",
      samples,
      segments: 2,
    }),
  );
  await onBothDatabases(t, "stats", dir, async ({ db }) => {
    const run = await runTask("metadata_uploader", [
      ...["--db", db, SAMPLES, handmade],
    ]);
    deepStrictEqual(run.code, 0, run.stderr);
    const rows = await queryRows(
      db,
      `SELECT f.id, f.name, w.record_seconds, w.points_per_segment, w.min_volts,
          w.max_volts, w.mean_volts, w.rms_volts, w.shot
        FROM files f JOIN lecroy_waveforms w ON w.file_id = f.id ORDER BY f.name`,
    );
    const byName = new Map(rows.map((r) => [String(r.name), r]));
    for (const name of ["pulse.trc", "pulse_sequence.trc", "issue_1.trc"]) {
      const e = expected[name];
      const row = byName.get(name)!;
      const { volts, triggers } = await readSample(name);
      const perSegment = e.wave_array_count / e.subarray_count;
      deepStrictEqual(row.points_per_segment, perSegment, name);
      ok(close(row.record_seconds, perSegment * e.horiz_interval), name);
      for (const [key, value] of Object.entries(referenceStats(volts))) {
        ok(close(row[key], value), `${name} ${key}: ${row[key]} != ${value}`);
      }
      const segments = await queryRows(
        db,
        `SELECT segment, trigger_seconds, horiz_offset FROM lecroy_segments
          WHERE file_id = ${row.id} ORDER BY segment`,
      );
      deepStrictEqual(
        segments.map((s) => [s.segment, s.trigger_seconds, s.horiz_offset]),
        e.subarray_count > 1 ? triggers : [],
        name,
      );
    }
    deepStrictEqual(
      (await queryRows(db, "SELECT COUNT(*) AS n FROM lecroy_segments"))[0].n,
      20 + 2,
    );
    // header.trc has no samples: no statistics, but still a shot.
    const header = byName.get("header.trc")!;
    deepStrictEqual([header.min_volts, header.rms_volts], [null, null]);
    ok(String(header.shot).endsWith("/header@2022-10-13T16:29:38.475715"));
    // The hand-made file: volts = 0.5 raw + 0.25, three samples a segment.
    const bench = byName.get("bench.trc")!;
    const volts = samples.map((raw) => 0.5 * raw + 0.25);
    deepStrictEqual(bench.points_per_segment, 3);
    for (const [key, value] of Object.entries(referenceStats(volts))) {
      ok(close(bench[key], value), `bench ${key}: ${bench[key]} != ${value}`);
    }
  });
  await Deno.remove(`${ROOT}${dir}`, { recursive: true });
});

/** A copy of a sample capture with another WAVE_SOURCE (0 = CHANNEL_1). */
async function channelCopy(from: string, to: string, channel: number) {
  const bytes = await Deno.readFile(`${ROOT}${SAMPLES}/${from}`);
  new DataView(bytes.buffer).setInt16(11 + 344, channel - 1, true);
  await Deno.writeFile(`${ROOT}${to}`, bytes);
}

/** The names `catalog list` prints as JSON for `args`. */
async function listNames(db: string, ...args: string[]): Promise<string[]> {
  const run = await runTask("catalog", [
    ...["list", "--db", db, "--format", "json", ...args],
  ]);
  deepStrictEqual(run.code, 0, run.stderr);
  if (run.stdout.startsWith("No file")) return [];
  return (JSON.parse(run.stdout) as { name: string }[]).map((r) => r.name);
}

Deno.test("C1..C4 of one shot share a shot key; list filters on trigger time, channel, timebase, coupling, serial and tags", async (t) => {
  const dir = await makeOutTempDir("catalog-shots");
  const scope = `${dir}/scope`;
  await Deno.mkdir(`${ROOT}${scope}`);
  for (const channel of [1, 2, 3, 4]) {
    await channelCopy(
      "pulse.trc",
      `${scope}/C${channel}Trace00001.trc`,
      channel,
    );
  }
  await channelCopy("pulse_sequence.trc", `${scope}/C1Trace00002.trc`, 1);
  const shot1 = ["C1Trace00001.trc", "C2Trace00001.trc", "C3Trace00001.trc"]
    .concat("C4Trace00001.trc");
  const pulse = expected["pulse.trc"];
  await onBothDatabases(t, "shots", dir, async ({ db, secret }) => {
    const run = await runTask("metadata_uploader", [
      ...["--db", db, "--tag", "sample=A12", "--tag=operator=kim", scope],
    ]);
    deepStrictEqual(run.code, 0, run.stderr);
    const shots = await queryRows(
      db,
      `SELECT f.name, w.shot FROM files f JOIN lecroy_waveforms w
        ON w.file_id = f.id ORDER BY f.name`,
    );
    const key = String(shots[0].shot);
    ok(key.endsWith(`/scope/Trace00001@${pulse.trigger_time}`), key);
    deepStrictEqual(await listNames(db, "--shot", key), shot1);
    deepStrictEqual(await listNames(db, "--channel", "3"), [
      "C3Trace00001.trc",
    ]);
    // Trigger times: pulse.trc 09:23:52, pulse_sequence.trc 09:26:40.
    deepStrictEqual(await listNames(db, "--since", "2022-11-09T09:25"), [
      "C1Trace00002.trc",
    ]);
    deepStrictEqual(
      await listNames(
        db,
        "--since",
        "2022-11-09",
        "--until",
        "2022-11-09T09:25",
      ),
      shot1,
    );
    deepStrictEqual(
      await listNames(
        db,
        ...["--timebase", "50_NS/DIV", "--coupling", pulse.vert_coupling],
        ...["--serial", String(pulse.instrument_number), "--channel", "1"],
      ),
      ["C1Trace00001.trc", "C1Trace00002.trc"],
    );
    deepStrictEqual(await listNames(db, "--serial", "1"), []);
    // Tags from the command line, then from `catalog tag`; filters combine.
    deepStrictEqual((await listNames(db, "--tag", "operator=kim")).length, 5);
    const tag = await runTask("catalog", [
      ...["tag", "--db", db, "C2Trace*", "run=7"],
    ]);
    deepStrictEqual(tag.code, 0, tag.stderr);
    ok(/^Tagged 1 file\(s\) in \S+:files$/.test(tag.stdout.trim()), tag.stdout);
    ok(!tag.stdout.includes(secret || "\0"), "password printed");
    deepStrictEqual(
      await listNames(db, "--tag", "sample=A12", "--tag", "run=7"),
      ["C2Trace00001.trc"],
    );
    deepStrictEqual(await listNames(db, "--tag", "sample=B7"), []);
    // A run without --tag keeps the tags.
    deepStrictEqual(
      (await runTask("metadata_uploader", ["--db", db, scope])).code,
      0,
    );
    deepStrictEqual(await listNames(db, "--tag", "run=7"), [
      "C2Trace00001.trc",
    ]);
    const bad = await runTask("catalog", ["tag", "--db", db, "C2*", "oops"]);
    deepStrictEqual(bad.code, 2);
    ok(bad.stderr.includes("a tag is key=value"), bad.stderr);
    ok(!bad.stderr.includes("    at "), bad.stderr);
  });
  await Deno.remove(`${ROOT}${dir}`, { recursive: true });
});

Deno.test("a catalog made by the version before the history (dea21a7) is upgraded in place, its rows kept", async (t) => {
  const dir = await makeOutTempDir("catalog-upgrade");
  const samples = await Deno.realPath(`${ROOT}${SAMPLES}`);
  const fixture = async (kind: string) =>
    (await Deno.readTextFile(
      `${ROOT}tests/fixtures/catalog_dea21a7.${kind}.sql`,
    )).replaceAll("@SAMPLES@", samples);
  await onBothDatabases(t, "upgrade", dir, async ({ db }, pg) => {
    if (pg) {
      const client = postgres(db, { max: 1, onnotice: () => {} });
      await client.unsafe(await fixture("postgres")).simple();
      await client.end();
    } else {
      const sqlite = new DatabaseSync(`${ROOT}${db}`);
      sqlite.exec(await fixture("sqlite"));
      sqlite.close();
    }
    const columns =
      "id, name, path, size_bytes, sha512, modified_at, source, topic, n_chunks, chunk_size, rebuilt_by";
    const before = await queryRows(
      db,
      `SELECT ${columns} FROM files ORDER BY id`,
    );
    deepStrictEqual(before.length, 6);
    // Reading it upgrades it: the old rows, and a first history row for
    // each file that travelled.
    deepStrictEqual((await listNames(db)).length, 6);
    deepStrictEqual(
      await queryRows(db, `SELECT ${columns} FROM files ORDER BY id`),
      before,
    );
    deepStrictEqual(
      await queryRows(
        db,
        `SELECT f.name, t.direction, t.topic, t.n_chunks, t.chunk_size, t.received_by
          FROM transfers t JOIN files f ON f.id = t.file_id ORDER BY t.id`,
      ),
      [
        {
          name: "issue_1.trc",
          direction: "sent",
          topic: "lecroy_files",
          n_chunks: 13,
          chunk_size: 16384,
          received_by: null,
        },
        {
          name: "expected.json",
          direction: "rebuilt",
          topic: "lecroy_files",
          n_chunks: 1,
          chunk_size: 6707,
          received_by: "labpc2 (pid 4242)",
        },
      ],
    );
    // Catalogued again: the same rows get their statistics, and what the
    // transfer tools recorded stays.
    const run = await runTask("metadata_uploader", [
      ...[
        "--db",
        db,
        `${SAMPLES}/pulse_sequence.trc`,
        `${SAMPLES}/issue_1.trc`,
      ],
    ]);
    deepStrictEqual(run.code, 0, run.stderr);
    const after = await queryRows(
      db,
      `SELECT f.id, f.name, f.source, f.topic, w.points_per_segment
        FROM files f LEFT JOIN lecroy_waveforms w ON w.file_id = f.id
        WHERE f.name IN ('pulse_sequence.trc', 'issue_1.trc') ORDER BY f.id`,
    );
    deepStrictEqual(after, [
      {
        id: 2,
        name: "pulse_sequence.trc",
        source: "file",
        topic: null,
        points_per_segment: 502,
      },
      {
        id: 5,
        name: "issue_1.trc",
        source: "file",
        topic: "lecroy_files",
        points_per_segment: 100002,
      },
    ]);
    deepStrictEqual(
      (await queryRows(db, "SELECT COUNT(*) AS n FROM files"))[0].n,
      6,
    );
    const show = await runTask("catalog", [
      "show",
      "--db",
      db,
      "expected.json",
    ]);
    deepStrictEqual(show.code, 0, show.stderr);
    ok(
      show.stdout.includes("history (1 transfer, oldest first):"),
      show.stdout,
    );
    ok(show.stdout.includes("received_by=labpc2 (pid 4242)"), show.stdout);
  });
  await Deno.remove(`${ROOT}${dir}`, { recursive: true });
});
