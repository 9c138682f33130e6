/**
 * The catalog tools (metadata_uploader, catalog, and `--catalog` on the
 * transfer tools) on bad input, each fed exactly that input: one line, a
 * non-zero exit, nothing lost, no password printed. Issue 17, items 8-12:
 * URLs that are no URL, a port that is no PostgreSQL, a user who may not
 * create tables, a server stopped mid-run, reserved words as table names, a
 * symbolic link loop, a folder that cannot be read, headers that lie or
 * carry markup, and a capture far larger than memory should allow.
 */
import { deepStrictEqual, match, ok } from "node:assert/strict";
import postgres from "postgres";
import { taskArgs } from "../lib/common/deno_tasks.ts";
import { onBothDatabases, queryRows } from "./helpers/catalog_db.ts";
import { sharedTestPostgres, startTestPostgres } from "./helpers/postgres.ts";
import {
  makeOutTempDir,
  ROOT,
  runTask,
  runWithoutOverride,
} from "./helpers/run_task.ts";
import {
  LARGE_TRC_SPIKE,
  makeTrc,
  SAMPLES,
  type TrcSpec,
  writeLargeTrc,
} from "./helpers/trc_files.ts";

/** A password that must never be printed. */
const SECRET = "Hush-7c1e-pass";

/** The output has one line, no stack trace, and not `secret` anywhere. */
function assertOneCleanLine(
  run: { stdout: string; stderr: string },
  secret: string,
): void {
  deepStrictEqual(run.stderr.trim().split("\n").length, 1, run.stderr);
  ok(!/Uncaught|\n\s+at /.test(run.stderr), run.stderr);
  if (secret !== "") {
    ok(!run.stdout.includes(secret), "password in stdout");
    ok(!run.stderr.includes(secret), "password in stderr");
  }
}

/** A small hand-made capture (20000 16-bit samples), as bytes to patch. */
function handmade(overrides: Partial<TrcSpec> = {}): Uint8Array {
  return makeTrc({
    littleEndian: true,
    sampleBytes: 2,
    prefix: false,
    usertext: "",
    samples: Array.from(
      { length: 20000 },
      (_, i) => Math.round(100 * Math.sin(i / 500)),
    ),
    ...overrides,
  });
}

/** Writes NUL-padded text into a header field (no prefix: offsets are WAVEDESC's). */
function setText(bytes: Uint8Array, at: number, size: number, text: string) {
  bytes.fill(0, at, at + size);
  bytes.set(new TextEncoder().encode(text).subarray(0, size), at);
}

Deno.test("item 8: a --db or --catalog URL with a port that is no port is one line, exit 2, password never printed", async () => {
  const dir = await makeOutTempDir("catalog_faults");
  await Deno.writeTextFile(`${ROOT}${dir}/a.bin`, "a\n");
  for (const port of ["notaport", "99999"]) {
    const url = `postgres://lab:${SECRET}@127.0.0.1:${port}/catalog`;
    const expected =
      `the catalog URL postgres://lab@127.0.0.1:${port}/catalog has port "${port}": not a number from 1 to 65535`;
    const runs = {
      metadata_uploader: await runTask("metadata_uploader", [
        "--db",
        url,
        SAMPLES,
      ]),
      catalog: await runTask("catalog", ["list", "--db", url]),
      upload_data_file: await runTask("upload_data_file", [
        "--catalog",
        url,
        `${dir}/a.bin`,
      ]),
      upload_data_files_added_to_directory: await runTask(
        "upload_data_files_added_to_directory",
        [`--catalog=${url}`, dir],
      ),
      reconstruct_data_files: await runTask("reconstruct_data_files", [
        "--catalog",
        url,
        `${dir}/rebuilt`,
      ]),
    };
    for (const [tool, run] of Object.entries(runs)) {
      deepStrictEqual(run.code, 2, `${tool}: ${run.stderr}`);
      assertOneCleanLine(run, SECRET);
      ok(
        run.stderr.startsWith(`${tool}: error: ${expected}`),
        `${tool}: ${run.stderr}`,
      );
    }
  }
  // Nothing was made on the way: no rebuilt folder, no default catalog rows.
  ok(!await Deno.stat(`${ROOT}${dir}/rebuilt`).then(() => true, () => false));
});

Deno.test("item 8: with --db postgres:// and the PG* variables, not even deno task's own echo shows the password", async () => {
  const pg = await sharedTestPostgres();
  const url = new URL(await pg.freshDatabase());
  const env = {
    NO_COLOR: "1",
    PGHOST: url.hostname,
    PGPORT: url.port,
    PGUSER: "postgres",
    PGDATABASE: url.pathname.slice(1),
    PGPASSWORD: pg.password,
  };
  // As a user types it: `deno task` without --quiet echoes its command line.
  const run = async (task: string, args: string[]) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", task, ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env,
    }).output();
    return {
      code: output.code,
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
  };
  const label =
    `postgres://postgres@${url.hostname}:${url.port}${url.pathname}`;
  const fill = await run("metadata_uploader", ["--db", "postgres://", SAMPLES]);
  deepStrictEqual(fill.code, 0, fill.stderr);
  match(fill.stderr, /^Task metadata_uploader .*'--db' 'postgres:\/\/'/m);
  match(fill.stdout, new RegExp(`into ${label}:files\n$`));
  const list = await run("catalog", [
    "--db",
    "postgres://",
    "--name",
    "pulse.trc",
  ]);
  deepStrictEqual(list.code, 0, list.stderr);
  match(list.stdout, /^pulse\.trc /m);
  for (const text of [fill.stdout, fill.stderr, list.stdout, list.stderr]) {
    ok(!text.includes(pg.password), "password printed");
  }
});

Deno.test("item 9: a port that answers but is no PostgreSQL gets at most 5 connections, then one line", async () => {
  const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (server.addr as Deno.NetAddr).port;
  let connections = 0;
  let open = true;
  const closeServer = () => {
    if (open) server.close();
    open = false;
  };
  const serving = (async () => {
    for await (const connection of server) {
      connections++;
      // An HTTP server's answer to bytes it does not understand, a moment
      // for the client to read it, then close.
      await connection.write(
        new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"),
      ).catch(() => {});
      setTimeout(() => connection.close(), 50);
      // A client that never stops gets refused from here on, so that the
      // test ends (and fails) instead of hanging.
      if (connections === 100) closeServer();
    }
  })();
  try {
    const url = `postgres://lab:${SECRET}@127.0.0.1:${port}/catalog`;
    const dir = await makeOutTempDir("catalog_faults");
    await Deno.writeTextFile(`${ROOT}${dir}/a.bin`, "a\n");
    const runs = {
      metadata_uploader: () =>
        runTask("metadata_uploader", ["--db", url, SAMPLES]),
      catalog: () => runTask("catalog", ["--db", url]),
      upload_data_file: () =>
        runTask("upload_data_file", ["--catalog", url, `${dir}/a.bin`]),
    };
    for (const [tool, run] of Object.entries(runs)) {
      connections = 0;
      const result = await run();
      ok(connections >= 1 && connections <= 5, `${connections} connections`);
      deepStrictEqual(result.code, 1, `${tool}: ${result.stderr}`);
      assertOneCleanLine(result, SECRET);
      match(
        result.stderr,
        new RegExp(
          `^${tool}: error: cannot use the PostgreSQL catalog postgres://lab@127\\.0\\.0\\.1:${port}/catalog: 5 connections were closed before logging in \\(is it a PostgreSQL server\\?\\)\n$`,
        ),
      );
    }
  } finally {
    closeServer();
    await serving.catch(() => {});
  }
});

Deno.test("item 10: a user without CREATE on schema public (PostgreSQL 15) gets one line, exit 1, no password", async () => {
  const pg = await sharedTestPostgres();
  const db = await pg.freshDatabase();
  const admin = postgres(db, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE ROLE lab LOGIN PASSWORD '${SECRET}'`);
  } finally {
    await admin.end();
  }
  const labUrl = db.replace(`postgres:${pg.password}@`, `lab:${SECRET}@`);
  const run = await runTask("metadata_uploader", ["--db", labUrl, SAMPLES]);
  deepStrictEqual(run.code, 1, run.stderr);
  assertOneCleanLine(run, SECRET);
  match(
    run.stderr,
    /^metadata_uploader: error: the PostgreSQL catalog postgres:\/\/lab@127\.0\.0\.1:\d+\/test_\d+: permission denied for schema public \(the tables are made on first use: run once as the database's owner, or GRANT CREATE ON SCHEMA to this user\)\n$/,
  );
  // Once the owner made the tables, the same user may read them.
  const made = await runTask("metadata_uploader", ["--db", db, SAMPLES]);
  deepStrictEqual(made.code, 0, made.stderr);
  const read = await runTask("catalog", ["--db", labUrl]);
  deepStrictEqual(read.code, 1, read.stderr);
  assertOneCleanLine(read, SECRET);
  match(
    read.stderr,
    /^catalog: error: the PostgreSQL catalog postgres:\/\/lab@[^ ]+: permission denied for table files\n$/,
  );
});

Deno.test("item 10: a PostgreSQL server stopped mid-run ends the run in one line; every file it counted is in the catalog", async () => {
  const pg = await startTestPostgres();
  const dir = await makeOutTempDir("catalog_faults");
  try {
    const db = await pg.freshDatabase();
    const folder = `${dir}/scope`;
    await Deno.mkdir(`${ROOT}${folder}`, { recursive: true });
    for (const name of ["a.bin", "b.bin", "c.bin", "d.bin"]) {
      await Deno.writeTextFile(`${ROOT}${folder}/${name}`, `${name}\n`);
    }
    // c.bin catalogued once, then its row locked: the next run waits there.
    const first = await runTask("metadata_uploader", [
      "--db",
      db,
      `${folder}/c.bin`,
    ]);
    deepStrictEqual(first.code, 0, first.stderr);
    const locker = postgres(db, { max: 1, onnotice: () => {} });
    let release = () => {};
    const held = new Promise<void>((resolve) => release = resolve);
    let lockTaken = () => {};
    const taken = new Promise<void>((resolve) => lockTaken = resolve);
    const locked = locker.begin(async (tx) => {
      await tx`SELECT id FROM files WHERE name = 'c.bin' FOR UPDATE`;
      lockTaken();
      await held; // until the server has gone away
    }).catch(() => {});
    await taken;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "metadata_uploader", "--db", db, folder],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    // Wait until the run is blocked on the lock, then stop the server.
    const watcher = postgres(db, { max: 1, onnotice: () => {} });
    try {
      for (let i = 0; i < 600; i++) {
        const [{ n }] = await watcher`SELECT COUNT(*)::int AS n
          FROM pg_stat_activity WHERE wait_event_type = 'Lock'`;
        if (n > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await watcher.end();
    }
    await pg.halt();
    release();
    await locked;
    await locker.end({ timeout: 0 }).catch(() => {});
    const output = await child.output();
    const run = {
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
    deepStrictEqual(output.code, 1, run.stderr);
    assertOneCleanLine(run, pg.password);
    match(
      run.stderr,
      /^metadata_uploader: error: the PostgreSQL catalog postgres:\/\/postgres@127\.0\.0\.1:\d+\/test_1: the connection to the server was lost \(.*\); 2 of 4 files were catalogued before \(run again for the rest\)\n$/,
    );
    // The two it counted are stored; a run again catalogs the rest.
    await pg.resume();
    deepStrictEqual(
      (await queryRows(db, "SELECT name FROM files ORDER BY name")).map((r) =>
        r.name
      ),
      ["a.bin", "b.bin", "c.bin"],
    );
    const again = await runTask("metadata_uploader", ["--db", db, folder]);
    deepStrictEqual(again.code, 0, again.stderr);
    deepStrictEqual(
      (await queryRows(db, "SELECT COUNT(*)::int AS n FROM files"))[0].n,
      4,
    );
  } finally {
    await pg.stop();
  }
});

Deno.test("item 10: reserved words as --table (user, select) work on both databases", async (t) => {
  const dir = await makeOutTempDir("catalog_faults");
  await onBothDatabases(t, "reserved", dir, async ({ db, secret }) => {
    for (const table of ["user", "select"]) {
      const run = await runTask("metadata_uploader", [
        "--db",
        db,
        "--table",
        table,
        SAMPLES,
      ]);
      deepStrictEqual(run.code, 0, run.stderr);
      match(run.stdout, new RegExp(`:${table}\n$`));
      const list = await runTask("catalog", [
        "list",
        "--db",
        db,
        "--table",
        table,
        "--name",
        "pulse.trc",
      ]);
      deepStrictEqual(list.code, 0, list.stderr);
      match(list.stdout, /^pulse\.trc .*LECROYWR64Xi-A/m);
      for (const text of [run.stdout, run.stderr, list.stdout, list.stderr]) {
        ok(secret === "" || !text.includes(secret));
      }
      const rows = await queryRows(
        db,
        `SELECT COUNT(*) AS n FROM "${table}_lecroy_waveforms"`,
      );
      deepStrictEqual(Number(rows[0].n), 4);
    }
  });
});

Deno.test("item 10: a symbolic link loop named as an argument is one line, exit 1", async (t) => {
  const dir = await makeOutTempDir("catalog_faults");
  await Deno.symlink("loop", `${ROOT}${dir}/loop`);
  await onBothDatabases(t, "loop", dir, async ({ db, secret }) => {
    const run = await runTask("metadata_uploader", [
      "--db",
      db,
      SAMPLES,
      `${dir}/loop`,
    ]);
    deepStrictEqual(run.code, 1, run.stderr);
    assertOneCleanLine(run, secret);
    deepStrictEqual(
      run.stderr,
      `metadata_uploader: error: ${dir}/loop is a loop of symbolic links\n`,
    );
  });
});

Deno.test("item 10: a folder that cannot be read is skipped with a warning; every other file is catalogued; exit 1", async (t) => {
  const dir = await makeOutTempDir("catalog_faults");
  await onBothDatabases(t, "unreadable", dir, async ({ db, secret }, pg) => {
    const folder = `${dir}/scope${pg ? "pg" : ""}`;
    await Deno.mkdir(`${ROOT}${folder}/locked`, { recursive: true });
    await Deno.writeTextFile(`${ROOT}${folder}/a.bin`, "a\n");
    await Deno.writeTextFile(`${ROOT}${folder}/locked/b.bin`, "b\n");
    await Deno.writeTextFile(`${ROOT}${folder}/z.bin`, "z\n");
    await Deno.chmod(`${ROOT}${folder}/locked`, 0o000);
    try {
      const run = await runWithoutOverride("metadata_uploader", [
        "--db",
        db,
        folder,
      ]);
      deepStrictEqual(run.code, 1, run.stderr);
      ok(!/Uncaught|\n\s+at /.test(run.stderr), run.stderr);
      ok(secret === "" || !run.stderr.includes(secret));
      const lines = run.stderr.trim().split("\n");
      deepStrictEqual(lines.length, 2, run.stderr);
      match(
        lines[0],
        new RegExp(
          `^metadata_uploader: warning: ${folder}/locked: folder skipped, it cannot be read \\(Permission denied`,
        ),
      );
      deepStrictEqual(
        lines[1],
        "metadata_uploader: error: 1 folder(s) could not be read",
      );
      match(run.stdout, /^Cataloged 2 files \(0 LeCroy waveforms\)/);
      deepStrictEqual(
        (await queryRows(db, "SELECT name FROM files ORDER BY name")).map((
          r,
        ) => r.name),
        ["a.bin", "z.bin"],
      );
    } finally {
      await Deno.chmod(`${ROOT}${folder}/locked`, 0o755);
    }
  });
});

Deno.test("item 10: --thumbnails with fewer samples than WAVE_ARRAY_COUNT warns once and the later files are still catalogued and drawn", async (t) => {
  const dir = await makeOutTempDir("catalog_faults");
  await onBothDatabases(t, "short", dir, async ({ db }, pg) => {
    const folder = `${dir}/short${pg ? "pg" : ""}`;
    await Deno.mkdir(`${ROOT}${folder}/in`, { recursive: true });
    const short = handmade();
    new DataView(short.buffer).setInt32(116, 40000, true); // WAVE_ARRAY_COUNT
    await Deno.writeFile(`${ROOT}${folder}/in/a_short.trc`, short);
    await Deno.writeFile(`${ROOT}${folder}/in/b_good.trc`, handmade());
    const run = await runTask("metadata_uploader", [
      "--db",
      db,
      "--thumbnails",
      `${folder}/thumbs`,
      `${folder}/in`,
    ]);
    deepStrictEqual(run.code, 0, run.stderr);
    deepStrictEqual(
      run.stderr,
      `metadata_uploader: warning: ${folder}/in/a_short.trc: WAVE_ARRAY_COUNT says 40000 samples, WAVE_ARRAY_1 holds 20000\n`,
    );
    match(run.stdout, /^Cataloged 2 files \(2 LeCroy waveforms\)/);
    const thumbs =
      (await Array.fromAsync(Deno.readDir(`${ROOT}${folder}/thumbs`)))
        .map((e) => e.name).sort();
    deepStrictEqual(thumbs, ["b_good.trc.svg", "index.html"]);
    deepStrictEqual(
      (await queryRows(
        db,
        "SELECT f.name, w.wave_array_count FROM lecroy_waveforms w JOIN files f ON f.id = w.file_id ORDER BY f.name",
      )).map((r) => [r.name, r.wave_array_count]),
      [["a_short.trc", 40000], ["b_good.trc", 20000]],
    );
  });
});

Deno.test("item 11: header text with markup is escaped in the SVG and index.html, and axes are named by their unit", async (t) => {
  const dir = await makeOutTempDir("catalog_faults");
  await onBothDatabases(t, "markup", dir, async ({ db }, pg) => {
    const folder = `${dir}/markup${pg ? "pg" : ""}`;
    await Deno.mkdir(`${ROOT}${folder}/in`, { recursive: true });
    const evil = handmade();
    setText(evil, 76, 16, "<script>x</scr>"); // INSTRUMENT_NAME
    setText(evil, 196, 48, `V"/><script>alert(2)</script>`); // VERTUNIT
    setText(evil, 244, 48, "S</text><script>alert(1)</script>"); // HORUNIT
    await Deno.writeFile(`${ROOT}${folder}/in/evil.trc`, evil);
    const hertz = handmade();
    setText(hertz, 196, 48, "A"); // VERTUNIT: amperes
    setText(hertz, 244, 48, "Hz"); // HORUNIT: a spectrum
    await Deno.writeFile(`${ROOT}${folder}/in/spectrum.trc`, hertz);
    const run = await runTask("metadata_uploader", [
      "--db",
      db,
      "--thumbnails",
      `${folder}/thumbs`,
      `${folder}/in`,
    ]);
    deepStrictEqual(run.code, 0, run.stderr);
    deepStrictEqual(run.stderr, "");
    const svg = await Deno.readTextFile(`${ROOT}${folder}/thumbs/evil.trc.svg`);
    const index = await Deno.readTextFile(`${ROOT}${folder}/thumbs/index.html`);
    for (const text of [svg, index]) {
      ok(!/<script/i.test(text), "a live <script> element");
    }
    ok(
      svg.includes(
        ">S&lt;/text&gt;&lt;script&gt;alert(1)&lt;/script&gt;</text>",
      ),
    );
    ok(
      svg.includes(">V&quot;/&gt;&lt;script&gt;alert(2)&lt;/script&gt;</text>"),
    );
    ok(index.includes("<td>&lt;script&gt;x&lt;/scr&gt;</td>"));
    const spectrum = await Deno.readTextFile(
      `${ROOT}${folder}/thumbs/spectrum.trc.svg`,
    );
    ok(spectrum.includes(">frequency (Hz)</text>"), "horizontal axis in Hz");
    ok(spectrum.includes(">current (A)</text>"), "vertical axis in A");
    // The rows keep the header text as it is in the file.
    deepStrictEqual(
      (await queryRows(
        db,
        "SELECT w.horunit FROM lecroy_waveforms w JOIN files f ON f.id = w.file_id WHERE f.name = 'evil.trc'",
      ))[0].horunit,
      "S</text><script>alert(1)</script>",
    );
  });
});

Deno.test("item 11: random bytes inside WAVEDESC keep the file row, store no waveform, and warn once per file", async (t) => {
  const dir = await makeOutTempDir("catalog_faults");
  await onBothDatabases(t, "random", dir, async ({ db }, pg) => {
    const folder = `${dir}/random${pg ? "pg" : ""}`;
    await Deno.mkdir(`${ROOT}${folder}`, { recursive: true });
    const pulse = await Deno.readFile(`${ROOT}${SAMPLES}/pulse.trc`);
    // Everything after the template name, from a fixed-seed generator.
    const random = pulse.slice();
    let seed = 12821;
    for (let at = 11 + 36; at < 11 + 346; at++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      random[at] = seed >> 16 & 0xff;
    }
    random[11 + 34] = 1; // COMM_ORDER and COMM_TYPE as in a real file,
    random[11 + 32] = 1; // so that only the lengths and dates give it away
    await Deno.writeFile(`${ROOT}${folder}/random.trc`, random);
    // A well-formed header whose trigger time is year 12821, month 141.
    const date = pulse.slice();
    const view = new DataView(date.buffer);
    date[11 + 296 + 11] = 141;
    view.setInt16(11 + 296 + 12, 12821, true);
    await Deno.writeFile(`${ROOT}${folder}/date.trc`, date);
    await Deno.writeFile(`${ROOT}${folder}/good.trc`, pulse);

    const run = await runTask("metadata_uploader", ["--db", db, folder]);
    deepStrictEqual(run.code, 0, run.stderr);
    match(run.stdout, /^Cataloged 3 files \(1 LeCroy waveforms\)/);
    const warnings = run.stderr.trim().split("\n");
    deepStrictEqual(warnings, [
      `metadata_uploader: warning: ${folder}/date.trc: not a readable LeCroy waveform: TRIGGER_TIME has month 141: no real date`,
      warnings[1],
    ]);
    match(
      warnings[1],
      new RegExp(
        `^metadata_uploader: warning: ${folder}/random\\.trc: not a readable LeCroy waveform: (WAVE_DESCRIPTOR|[A-Z_0-9]+ is)`,
      ),
    );
    deepStrictEqual(
      (await queryRows(db, "SELECT name FROM files ORDER BY name")).map((r) =>
        r.name
      ),
      ["date.trc", "good.trc", "random.trc"],
    );
    deepStrictEqual(
      (await queryRows(
        db,
        "SELECT f.name FROM lecroy_waveforms w JOIN files f ON f.id = w.file_id",
      )).map((r) => r.name),
      ["good.trc"],
    );
  });
});

Deno.test("item 12: thumbnails of a 256 MiB capture keep peak memory under 300 MB and still show its one-sample spike", async () => {
  const dir = await makeOutTempDir("catalog_faults");
  const samples = 128 * 1024 * 1024; // 256 MiB of 16-bit samples
  const size = await writeLargeTrc(`${ROOT}${dir}/big.trc`, samples);
  try {
    const deno = [
      Deno.execPath(),
      ...taskArgs("metadata_uploader", `${ROOT}deno.json`),
    ];
    const output = await new Deno.Command("/usr/bin/time", {
      args: [
        "-v",
        ...deno,
        "--db",
        `${dir}/catalog.db`,
        "--thumbnails",
        `${dir}/thumbs`,
        `${dir}/big.trc`,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    deepStrictEqual(output.code, 0, stderr);
    match(
      new TextDecoder().decode(output.stdout),
      /^Cataloged 1 files \(1 LeCroy waveforms\)/,
    );
    const kb = Number(
      /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1],
    );
    ok(kb > 0 && kb < 300 * 1000, `peak RSS ${kb} kB for a ${size}-byte file`);
    const svg = await Deno.readTextFile(`${ROOT}${dir}/thumbs/big.trc.svg`);
    // The spike (15 kV against a 50 V sine) sets the scale: it was kept.
    ok(svg.includes(">voltage (kV)</text>"), "the spike is in the plot");
    const points = [...svg.matchAll(/points="([^"]*)"/g)]
      .reduce((n, m) => n + m[1].split(" ").length, 0);
    ok(points > 1000 && points <= 3000, `${points} points`);
    // The statistics came from the same streamed read: the spike is the
    // maximum (0.5 V per count + 0.25 V), the sine's trough the minimum.
    const [stats] = await queryRows(
      `${dir}/catalog.db`,
      "SELECT points_per_segment, min_volts, max_volts FROM lecroy_waveforms",
    );
    deepStrictEqual(stats, {
      points_per_segment: samples,
      min_volts: 0.5 * -100 + 0.25,
      max_volts: 0.5 * LARGE_TRC_SPIKE + 0.25,
    });
  } finally {
    await Deno.remove(`${ROOT}${dir}/big.trc`);
  }
});
