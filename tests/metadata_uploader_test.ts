/**
 * metadata_uploader and the catalog task, each on SQLite and on a throwaway
 * PostgreSQL: the lab's sample captures land with the right values, a re-run
 * updates instead of duplicating, broken .trc files are warned about, the
 * thumbnails are drawn, and the catalog reads back with its filters.
 */
import { deepStrictEqual, match, ok } from "node:assert/strict";
import { onBothDatabases, queryRows } from "./helpers/catalog_db.ts";
import { sharedTestPostgres } from "./helpers/postgres.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";
import { HANDMADE_FIELDS, makeTrc, SAMPLES } from "./helpers/trc_files.ts";

const expected = JSON.parse(
  await Deno.readTextFile(`${ROOT}${SAMPLES}/expected.json`),
) as Record<string, Record<string, unknown>>;
const SAMPLE_FILES = (await Array.fromAsync(Deno.readDir(`${ROOT}${SAMPLES}`)))
  .length;

/** Output of a run, with the secret checked absent. */
function assertNoSecret(secret: string, ...texts: string[]): void {
  if (secret === "") return;
  for (const text of texts) ok(!text.includes(secret), "password printed");
}

Deno.test("metadata_uploader catalogs the sample captures with every WAVEDESC field", async (t) => {
  const dir = await makeOutTempDir("catalog");
  await onBothDatabases(t, "samples", dir, async ({ db, secret }) => {
    const run = await runTask("metadata_uploader", ["--db", db, SAMPLES]);
    deepStrictEqual(run.code, 0, run.stderr);
    const label = db.startsWith("postgres")
      ? db.replace(`:${secret}@`, "@")
      : db;
    deepStrictEqual(
      run.stdout.trim(),
      `Cataloged ${SAMPLE_FILES} files (4 LeCroy waveforms) into ${label}:files`,
    );
    // header.trc: its WAVEDESC is whole, its samples are not in the file.
    deepStrictEqual(run.stderr.trim().split("\n").length, 1, run.stderr);
    match(run.stderr, /header\.trc: data cut off: 357 of 804357 bytes/);
    assertNoSecret(secret, run.stdout, run.stderr);

    const files = await queryRows(db, "SELECT * FROM files ORDER BY name");
    deepStrictEqual(files.length, SAMPLE_FILES);
    const waveforms = await queryRows(
      db,
      "SELECT f.name, w.* FROM lecroy_waveforms w JOIN files f ON f.id = w.file_id",
    );
    deepStrictEqual(waveforms.map((w) => w.name).sort(), Object.keys(expected));
    for (const [name, reference] of Object.entries(expected)) {
      const file = files.find((f) => f.name === name)!;
      deepStrictEqual(file.size_bytes, reference.size);
      deepStrictEqual(file.sha512, reference.sha512);
      deepStrictEqual(file.subdir, "");
      deepStrictEqual(file.source, "file");
      deepStrictEqual(file.n_chunks, null);
      match(
        String(file.modified_at),
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
      );
      const waveform = waveforms.find((w) => w.name === name)!;
      const { size: _s, sha512: _h, ...fields } = reference;
      for (const [field, value] of Object.entries(fields)) {
        deepStrictEqual(waveform[field], value, `${name}: ${field}`);
      }
    }
  });
});

Deno.test("a re-run updates rows in place and a changed file gets its new size and hash", async (t) => {
  const dir = await makeOutTempDir("catalog");
  await onBothDatabases(t, "re-run", dir, async ({ db }, pg) => {
    const folder = `${dir}/scope${pg ? "pg" : ""}`;
    await Deno.mkdir(`${ROOT}${folder}/day1`, { recursive: true });
    await Deno.copyFile(
      `${ROOT}${SAMPLES}/pulse.trc`,
      `${ROOT}${folder}/day1/a.trc`,
    );
    await Deno.writeTextFile(`${ROOT}${folder}/notes.txt`, "first\n");
    for (let i = 0; i < 2; i++) {
      const run = await runTask("metadata_uploader", ["--db", db, folder]);
      deepStrictEqual(run.code, 0, run.stderr);
      match(run.stdout, /Cataloged 2 files \(1 LeCroy waveforms\)/);
    }
    const before = await queryRows(
      db,
      "SELECT id, name, subdir, size_bytes, sha512 FROM files ORDER BY name",
    );
    deepStrictEqual(before.map((r) => [r.name, r.subdir]), [["a.trc", "day1"], [
      "notes.txt",
      "",
    ]]);

    await Deno.writeTextFile(`${ROOT}${folder}/notes.txt`, "second, longer\n");
    const run = await runTask("metadata_uploader", ["--db", db, folder]);
    deepStrictEqual(run.code, 0, run.stderr);
    const after = await queryRows(
      db,
      "SELECT id, name, size_bytes, sha512 FROM files ORDER BY name",
    );
    deepStrictEqual(after.length, 2);
    deepStrictEqual(after.map((r) => r.id), before.map((r) => r.id));
    deepStrictEqual(after[1].size_bytes, 15);
    ok(after[1].sha512 !== before[1].sha512);
    deepStrictEqual(
      (await queryRows(db, "SELECT COUNT(*) AS n FROM lecroy_waveforms"))[0].n,
      1,
    );

    // --recreate starts over: only what this run names is left.
    const recreate = await runTask("metadata_uploader", [
      "--db",
      db,
      "--recreate",
      `${folder}/notes.txt`,
    ]);
    deepStrictEqual(recreate.code, 0, recreate.stderr);
    deepStrictEqual(
      (await queryRows(db, "SELECT name FROM files")).map((r) => r.name),
      ["notes.txt"],
    );
  });
});

Deno.test("broken .trc files keep their file row, warn once each, and the run still succeeds", async (t) => {
  const dir = await makeOutTempDir("catalog");
  await onBothDatabases(t, "broken", dir, async ({ db }, pg) => {
    const folder = `${dir}/broken${pg ? "pg" : ""}`;
    await Deno.mkdir(`${ROOT}${folder}`, { recursive: true });
    const pulse = await Deno.readFile(`${ROOT}${SAMPLES}/pulse.trc`);
    await Deno.writeFile(`${ROOT}${folder}/cut.trc`, pulse.subarray(0, 200));
    await Deno.writeTextFile(`${ROOT}${folder}/text.TRC`, "time,volts\n0,1\n");
    await Deno.writeFile(`${ROOT}${folder}/good.trc`, pulse);
    const run = await runTask("metadata_uploader", ["--db", db, folder]);
    deepStrictEqual(run.code, 0, run.stderr);
    match(run.stdout, /Cataloged 3 files \(1 LeCroy waveforms\)/);
    const warnings = run.stderr.trim().split("\n");
    deepStrictEqual(warnings.length, 2, run.stderr);
    match(
      warnings[0],
      /cut\.trc: not a readable LeCroy waveform: WAVEDESC cut off/,
    );
    match(
      warnings[1],
      /text\.TRC: not a readable LeCroy waveform: no WAVEDESC/,
    );
    deepStrictEqual(
      (await queryRows(db, "SELECT COUNT(*) AS n FROM files"))[0].n,
      3,
    );
    const waveforms = await queryRows(
      db,
      "SELECT f.name FROM lecroy_waveforms w JOIN files f ON f.id = w.file_id",
    );
    deepStrictEqual(waveforms.map((w) => w.name), ["good.trc"]);
  });
});

Deno.test("hand-made big-endian 8-bit files with USERTEXT are catalogued and drawn", async (t) => {
  const dir = await makeOutTempDir("catalog");
  await onBothDatabases(t, "hand-made", dir, async ({ db }, pg) => {
    const folder = `${dir}/made${pg ? "pg" : ""}`;
    const pictures = `${folder}/thumbnails`;
    await Deno.mkdir(`${ROOT}${folder}/in`, { recursive: true });
    const samples = Array.from(
      { length: 20000 },
      (_, i) => Math.round(100 * Math.sin(i / 500)),
    );
    await Deno.writeFile(
      `${ROOT}${folder}/in/be8.trc`,
      makeTrc({
        littleEndian: false,
        sampleBytes: 1,
        prefix: false,
        usertext: "probe 2",
        samples,
      }),
    );
    await Deno.writeFile(
      `${ROOT}${folder}/in/seq.trc`,
      makeTrc({
        littleEndian: true,
        sampleBytes: 2,
        prefix: true,
        usertext: "",
        samples,
        segments: 4,
      }),
    );
    const run = await runTask("metadata_uploader", [
      "--db",
      db,
      "--thumbnails",
      pictures,
      `${folder}/in`,
    ]);
    deepStrictEqual(run.code, 0, run.stderr);
    match(run.stdout, /Cataloged 2 files \(2 LeCroy waveforms\)/);
    const rows = await queryRows(
      db,
      "SELECT f.name, w.* FROM lecroy_waveforms w JOIN files f ON f.id = w.file_id ORDER BY f.name",
    );
    for (const row of rows) {
      for (const [field, value] of Object.entries(HANDMADE_FIELDS)) {
        deepStrictEqual(row[field], value, `${row.name}: ${field}`);
      }
    }
    deepStrictEqual(rows.map((r) => [r.comm_order, r.comm_type, r.usertext]), [[
      0,
      0,
      "probe 2",
    ], [1, 1, ""]]);

    const be8 = await Deno.readTextFile(`${ROOT}${pictures}/be8.trc.svg`);
    const seq = await Deno.readTextFile(`${ROOT}${pictures}/seq.trc.svg`);
    for (const svg of [be8, seq]) {
      // 20000 samples 0.98 ms apart, from -0.125 s: some 19.5 s of volts.
      ok(svg.includes(">time (s)</text>"), "time axis in s");
      ok(svg.includes(">voltage (V)</text>"), "voltage axis in V");
      const points = [...svg.matchAll(/points="([^"]*)"/g)]
        .reduce((n, m) => n + m[1].split(" ").length, 0);
      ok(points > 100 && points <= 3000, `${points} points`);
    }
    deepStrictEqual([...seq.matchAll(/<polyline/g)].length, 4);
    const index = await Deno.readTextFile(`${ROOT}${pictures}/index.html`);
    match(index, /<img src="be8\.trc\.svg"/);
    match(index, /100_ms\/div/);
  });
});

Deno.test("--thumbnails draws the sample captures and lists all four in index.html", async () => {
  const dir = await makeOutTempDir("catalog");
  const run = await runTask("metadata_uploader", [
    "--db",
    `${dir}/catalog.db`,
    "--thumbnails",
    `${dir}/thumbs`,
    SAMPLES,
  ]);
  deepStrictEqual(run.code, 0, run.stderr);
  const svgs = (await Array.fromAsync(Deno.readDir(`${ROOT}${dir}/thumbs`)))
    .map((e) => e.name).sort();
  deepStrictEqual(svgs, [
    "index.html",
    "issue_1.trc.svg",
    "pulse.trc.svg",
    "pulse_sequence.trc.svg",
  ]);
  const sequence = await Deno.readTextFile(
    `${ROOT}${dir}/thumbs/pulse_sequence.trc.svg`,
  );
  deepStrictEqual([...sequence.matchAll(/<polyline/g)].length, 20);
  ok(sequence.includes(">time (ns)</text>"), "time axis in ns");
  const index = await Deno.readTextFile(`${ROOT}${dir}/thumbs/index.html`);
  for (const name of Object.keys(expected)) match(index, new RegExp(name));
  match(index, /header\.trc.*no samples in the file/);
});

Deno.test("the catalog task lists, shows and exports with filters", async (t) => {
  const dir = await makeOutTempDir("catalog");
  await onBothDatabases(t, "catalog", dir, async ({ db, secret }) => {
    const fill = await runTask("metadata_uploader", ["--db", db, SAMPLES]);
    deepStrictEqual(fill.code, 0, fill.stderr);

    const list = await runTask("catalog", [
      "list",
      "--db",
      db,
      "--name",
      "*.TRC",
    ]);
    deepStrictEqual(list.code, 0, list.stderr);
    const lines = list.stdout.trim().split("\n");
    deepStrictEqual(lines.length, 2 + 4);
    match(
      lines[0],
      /^name\s+subdir\s+size_bytes.*instrument_name.*trigger_time/,
    );
    match(
      list.stdout,
      /issue_1\.trc\s+200361\s+file\s+LECROYWP254HD-MS\s+CHANNEL_2\s+2023-05-16T18:51:19\.888565\s+1_ms\/div/,
    );

    const show = await runTask("catalog", ["show", "pulse.trc", "--db", db]);
    deepStrictEqual(show.code, 0, show.stderr);
    match(show.stdout, /^trigger_time\s+2022-11-09T09:23:52\.112417$/m);
    match(show.stdout, /^sha512\s+95a04678/m);

    const json = await runTask("catalog", [
      "export",
      "--db",
      db,
      "--format",
      "json",
      "--instrument",
      "wr64",
    ]);
    deepStrictEqual(json.code, 0, json.stderr);
    const exported = JSON.parse(json.stdout) as Record<string, unknown>[];
    deepStrictEqual(exported.map((r) => r.name).sort(), [
      "header.trc",
      "pulse.trc",
      "pulse_sequence.trc",
    ]);
    deepStrictEqual(exported[0].horiz_interval, 9.999999717180685e-10);

    const csv = await runTask("catalog", [
      "export",
      "--db",
      db,
      "--since",
      "2000-01-01",
    ]);
    deepStrictEqual(csv.code, 0, csv.stderr);
    deepStrictEqual(csv.stdout.trim().split("\n").length, 1 + SAMPLE_FILES);
    match(csv.stdout, /^id,name,subdir,path,size_bytes,sha512,/);

    const none = await runTask("catalog", [
      "list",
      "--db",
      db,
      "--since",
      "2999-01-01",
    ]);
    deepStrictEqual([none.code, none.stdout.trim()], [
      0,
      `No file in ${db.replace(`:${secret}@`, "@")}:files matches.`,
    ]);
    assertNoSecret(secret, list.stdout, show.stdout, json.stdout, none.stdout);

    const bad = await runTask("catalog", [
      "list",
      "--db",
      db,
      "--since",
      "soon",
    ]);
    deepStrictEqual(bad.code, 2);
    match(bad.stderr, /--since needs a date/);
  });
});

Deno.test("an empty catalog and a missing one are one clear line each", async (t) => {
  const dir = await makeOutTempDir("catalog");
  await onBothDatabases(t, "empty", dir, async ({ db, secret }) => {
    await Deno.mkdir(`${ROOT}${dir}/nothing`, { recursive: true });
    const made = await runTask("metadata_uploader", [
      "--db",
      db,
      `${dir}/nothing`,
    ]);
    deepStrictEqual(made.code, 0, made.stderr);
    match(made.stdout, /Cataloged 0 files \(0 LeCroy waveforms\)/);
    const empty = await runTask("catalog", ["--db", db]);
    const label = db.replace(`:${secret}@`, "@");
    deepStrictEqual([empty.code, empty.stdout], [
      0,
      `The catalog ${label}:files is empty.\n`,
    ]);
    const noTable = await runTask("catalog", ["--db", db, "--table", "other"]);
    deepStrictEqual(noTable.code, 1);
    deepStrictEqual(
      noTable.stderr,
      `catalog: error: ${label}:other has no catalog table yet\n`,
    );
  });
  const missing = await runTask("catalog", ["--db", `${dir}/missing.db`]);
  deepStrictEqual(missing.code, 1);
  deepStrictEqual(
    missing.stderr,
    `catalog: error: no catalog database at ${dir}/missing.db\n`,
  );
  ok(
    !await Deno.stat(`${ROOT}${dir}/missing.db`).then(() => true, () => false),
  );
});

Deno.test("a wrong PostgreSQL password or a server that is down is one line, exit 1, password never printed", async () => {
  const pg = await sharedTestPostgres();
  const db = await pg.freshDatabase();
  const secret = pg.password;
  const wrong = db.replace(`:${secret}@`, ":not-the-password@");
  const bad = await runTask("metadata_uploader", ["--db", wrong, SAMPLES]);
  deepStrictEqual(bad.code, 1);
  match(
    bad.stderr,
    /^metadata_uploader: error: cannot use the PostgreSQL catalog postgres:\/\/postgres@127\.0\.0\.1:\d+\/test_\d+: the server refused the user name or password\n$/,
  );
  ok(!bad.stderr.includes("not-the-password"));

  // The password from $PGPASSWORD instead of the URL works, unprinted.
  const noPassword = db.replace(`:${secret}@`, "@");
  const viaEnv = await runTask("catalog", ["--db", noPassword], {
    env: { PGPASSWORD: secret },
  });
  deepStrictEqual(viaEnv.code, 1, viaEnv.stderr); // no table yet: but connected
  match(viaEnv.stderr, /has no catalog table yet/);
  assertNoSecret(secret, viaEnv.stdout, viaEnv.stderr);

  const down = db.replace(`:${pg.port}/`, ":1/");
  const unreachable = await runTask("catalog", ["--db", down]);
  deepStrictEqual(unreachable.code, 1);
  match(
    unreachable.stderr,
    /^catalog: error: cannot use the PostgreSQL catalog postgres:\/\/postgres@127\.0\.0\.1:1\/test_\d+: connection refused \(is the server up\?\)\n$/,
  );
  assertNoSecret(secret, unreachable.stderr);
});
