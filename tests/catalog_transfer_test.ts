/**
 * `--catalog` on the transfer tools, through a real Kafka broker, on SQLite
 * and on a throwaway PostgreSQL: the uploaders record what they sent (source
 * 'file'), the reconstructor what it rebuilt (source 'kafka', with the
 * waveform row of a .trc), and a row missing after a crash between the move
 * and the row appears at the next start, once.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { BackgroundTask } from "./helpers/background_task.ts";
import { onBothDatabases, queryRows } from "./helpers/catalog_db.ts";
import {
  Reconstructor,
  startTestBroker,
  uniqueTopic,
  writeTestConfig,
} from "./helpers/kafka.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";
import { SAMPLES } from "./helpers/trc_files.ts";
import { withCatalogValue } from "../lib/catalog/transfer_catalog.ts";
import { Catalog } from "../lib/catalog/catalog.ts";
import { DatabaseSync } from "node:sqlite";

const CHUNK = 16384;
const expected = JSON.parse(
  await Deno.readTextFile(`${ROOT}${SAMPLES}/expected.json`),
) as Record<string, { size: number; sha512: string; instrument_name: string }>;
/** The samples as [name, size] pairs, for waitForFiles. */
const SAMPLE_SIZES = Object.entries(expected).map((
  [name, { size }],
) => [name, size] as [string, number]);

/** The rows of one source, by name. */
async function rowsOf(db: string, source: string) {
  return await queryRows(
    db,
    `SELECT f.name, f.subdir, f.size_bytes, f.sha512, f.source, f.topic, f.n_chunks, f.chunk_size, w.instrument_name
       FROM files f LEFT JOIN lecroy_waveforms w ON w.file_id = f.id
      WHERE f.source = '${source}' ORDER BY f.name`,
  );
}

Deno.test("files sent and rebuilt with --catalog are catalogued, and a row lost in a crash is repaired once", async (t) => {
  const broker = await startTestBroker();
  const dir = await makeOutTempDir("catalog-kafka");
  const config = await writeTestConfig(dir, broker.bootstrap);
  try {
    await onBothDatabases(
      t,
      "upload and rebuild",
      dir,
      async ({ db, secret }, pg) => {
        const topic = uniqueTopic(`catalog${pg ? "pg" : "sqlite"}`);
        /** upload_data_file of `paths` to this step's topic. */
        const uploadFiles = (...paths: string[]) =>
          runTask("upload_data_file", [
            ...["--config", config, "--topic_name", topic],
            ...["--chunk_size", String(CHUNK), ...paths],
          ]);
        const upload = await uploadFiles(
          "--catalog",
          db,
          ...SAMPLE_SIZES.map(([name]) => `${SAMPLES}/${name}`),
        );
        deepStrictEqual(upload.code, 0, upload.stderr);
        ok(
          !upload.stdout.includes(secret || "\0") &&
            !upload.stderr.includes(secret || "\0"),
        );
        const sent = await rowsOf(db, "file");
        deepStrictEqual(sent.map((r) => r.name), Object.keys(expected));
        for (const row of sent) {
          const { size, sha512, instrument_name } = expected[String(row.name)];
          deepStrictEqual(row, {
            name: row.name,
            subdir: "",
            size_bytes: size,
            sha512,
            source: "file",
            topic,
            n_chunks: Math.ceil(size / CHUNK),
            chunk_size: CHUNK,
            instrument_name,
          });
        }

        // A reconstructor without --catalog leaves the files in place and no
        // rows: exactly what a crash between the move and the row leaves.
        const rebuilt = `${dir}/rebuilt-${topic}`;
        const group = `group-${topic}`;
        const first = Reconstructor.start(config, topic, rebuilt, [
          "--consumer_group_ID",
          group,
        ]);
        await first.waitForFiles(
          SAMPLE_SIZES.map(([name, size]) => [`${rebuilt}/${name}`, size]),
        );
        deepStrictEqual((await first.quit()).code, 0);
        deepStrictEqual(await rowsOf(db, "kafka"), []);
        const startCataloguing = async () => {
          const reconstructor = Reconstructor.start(config, topic, rebuilt, [
            "--consumer_group_ID",
            group,
            "--catalog",
            db,
          ]);
          await reconstructor.stdout.waitFor("Reading topic");
          return reconstructor;
        };

        // Restarted with --catalog (same group: nothing is read again), the
        // rows appear; a third start adds none.
        for (let run = 0; run < 2; run++) {
          const stopped = await (await startCataloguing()).quit();
          deepStrictEqual(stopped.code, 0, stopped.stderr);
          const rows = await rowsOf(db, "kafka");
          deepStrictEqual(rows.length, SAMPLE_SIZES.length);
          for (const row of rows) {
            const { size, sha512, instrument_name } =
              expected[String(row.name)];
            deepStrictEqual(row, {
              name: row.name,
              subdir: "",
              size_bytes: size,
              sha512,
              source: "kafka",
              topic,
              n_chunks: Math.ceil(size / CHUNK),
              // A file of one chunk tells the reconstructor only its size:
              // the sender's row (same content and topic) tells the rest.
              chunk_size: CHUNK,
              instrument_name,
            });
          }
        }

        // A file that arrives while the reconstructor runs gets its row at once.
        const live = await startCataloguing();
        const folder = `${dir}/more-${topic}/day2`;
        await Deno.mkdir(`${ROOT}${folder}`, { recursive: true });
        await Deno.copyFile(
          `${ROOT}${SAMPLES}/pulse.trc`,
          `${ROOT}${folder}/late.trc`,
        );
        const more = await uploadFiles("--catalog", db, `${dir}/more-${topic}`);
        deepStrictEqual(more.code, 0, more.stderr);
        await live.waitForFiles([[`${rebuilt}/day2/late.trc`, 1361]]);
        const liveRun = await live.quit();
        deepStrictEqual(liveRun.code, 0, liveRun.stdout + liveRun.stderr);
        const late = (await rowsOf(db, "kafka")).filter((r) =>
          r.name === "late.trc"
        );
        deepStrictEqual(
          late.map((r) => [r.subdir, r.instrument_name, r.n_chunks]),
          [["day2", "LECROYWR64Xi-A", 1]],
        );
        // Each rebuilt row names the member that rebuilt it: this host, and
        // the pid of the run that did (a repaired row: the host only).
        const members = await queryRows(
          db,
          `SELECT name, source, rebuilt_by FROM files ORDER BY source, name`,
        );
        const host = Deno.hostname();
        for (const row of members) {
          const by = row.source === "file"
            ? null
            : row.name === "late.trc"
            ? `${host} (pid ${live.child.pid})`
            : host;
          deepStrictEqual(row.rebuilt_by, by, `${row.source} ${row.name}`);
        }
        await checkHistory(db, topic, group, live.child.pid);
        await checkMetadataUploaderKeepsTransfers(db, topic, config);
      },
    );

    await onBothDatabases(t, "folder watcher", dir, async ({ db }, pg) => {
      const topic = uniqueTopic(`watchcat${pg ? "pg" : "sqlite"}`);
      const folder = `${dir}/watched-${topic}`;
      await Deno.mkdir(`${ROOT}${folder}/scope`, { recursive: true });
      const watcher = new BackgroundTask(
        "upload_data_files_added_to_directory",
        [
          "--config",
          config,
          "--topic_name",
          topic,
          "--chunk_size",
          "1024",
          "--settle_seconds",
          "1",
          "--update_seconds",
          "-1",
          "--catalog",
          db,
          folder,
        ],
      );
      await watcher.stdout.waitFor("Watching");
      await Deno.copyFile(
        `${ROOT}${SAMPLES}/pulse_sequence.trc`,
        `${ROOT}${folder}/scope/seq.trc`,
      );
      await watcher.stdout.waitFor("Uploaded scope/seq.trc");
      deepStrictEqual((await watcher.quit()).code, 0);
      const rows = await rowsOf(db, "file");
      deepStrictEqual(
        rows.map((
          r,
        ) => [
          r.name,
          r.subdir,
          r.n_chunks,
          r.chunk_size,
          r.topic,
          r.instrument_name,
        ]),
        [
          ["seq.trc", "scope", 21, 1024, topic, "LECROYWR64Xi-A"],
        ],
      );
    });
  } finally {
    await broker.stop();
  }
});

/** Transfer rows of the catalog, oldest first. */
async function transfers(db: string) {
  return await queryRows(
    db,
    `SELECT f.name, t.* FROM transfers t JOIN files f ON f.id = t.file_id
      ORDER BY t.id`,
  );
}

/**
 * Each trip is one history row: sent rows with partition, offsets, Kafka
 * times and the sending host; rebuilt rows with the group and receiving
 * host, and, for a file read live, the very offsets the uploader recorded.
 */
async function checkHistory(
  db: string,
  topic: string,
  group: string,
  livePid: number,
) {
  const rows = await transfers(db);
  const host = Deno.hostname();
  const sent = rows.filter((r) => r.direction === "sent");
  const rebuilt = rows.filter((r) => r.direction === "rebuilt");
  deepStrictEqual(sent.length, SAMPLE_SIZES.length + 1);
  deepStrictEqual(rebuilt.length, SAMPLE_SIZES.length + 1);
  for (const row of sent) {
    deepStrictEqual([row.topic, row.sent_by], [topic, host]);
    ok(row.kafka_partition !== null, `${row.name}: partition`);
    ok(
      Number(row.last_offset) - Number(row.first_offset) + 1 >=
        Number(row.n_chunks),
      `${row.name}: offsets ${row.first_offset}-${row.last_offset}`,
    );
    ok(
      !Number.isNaN(Date.parse(String(row.first_kafka_time))) &&
        String(row.first_kafka_time) <= String(row.last_kafka_time),
      `${row.name}: Kafka times`,
    );
    deepStrictEqual(row.source_path, row.path, `${row.name}: source path`);
  }
  for (const row of rebuilt) {
    deepStrictEqual([row.topic, row.consumer_group], [topic, group]);
    // Rebuilt live, late.trc may be catalogued before the uploader writes
    // its own row (once Kafka acknowledged every chunk): its sender is then
    // unknown, and never taken from another file of the same content.
    if (row.name === "late.trc" && row.source_path === null) {
      deepStrictEqual(row.sent_by, null);
      continue;
    }
    // Otherwise host and path come from the sent row of the same content,
    // topic and name (late.trc is pulse.trc's content under another name).
    const from = sent.find((s) =>
      s.sha512 === row.sha512 && s.name === row.name
    )!;
    deepStrictEqual(
      [row.sent_by, row.source_path],
      [host, from.path],
      String(row.name),
    );
  }
  // Read live: the partition and offsets the reconstructor saw are the ones
  // Kafka acknowledged to the uploader; its Kafka time is the message's.
  const late = rebuilt.find((r) => r.name === "late.trc")!;
  const lateSent = sent.find((r) => r.name === "late.trc")!;
  deepStrictEqual(
    [late.kafka_partition, late.first_offset, late.last_offset],
    [lateSent.kafka_partition, lateSent.first_offset, lateSent.last_offset],
  );
  deepStrictEqual(late.received_by, `${host} (pid ${livePid})`);
  ok(!Number.isNaN(Date.parse(String(late.first_kafka_time))));
  // Repaired rows (the run that wrote them had no --catalog): no offsets.
  ok(
    rebuilt.filter((r) => r.name !== "late.trc")
      .every((r) => r.first_offset === null && r.received_by === host),
  );
}

/**
 * A second topic adds a second sent row and keeps the first; a plain
 * metadata_uploader run over sent and rebuilt files erases none of it.
 */
async function checkMetadataUploaderKeepsTransfers(
  db: string,
  topic: string,
  config: string,
) {
  const second = `${topic}-again`;
  const again = await runTask("upload_data_file", [
    ...["--config", config, "--topic_name", second, "--catalog", db],
    ...["--tag", "sample=A12", `${SAMPLES}/pulse.trc`],
  ]);
  deepStrictEqual(again.code, 0, again.stderr);
  deepStrictEqual(
    await queryRows(
      db,
      "SELECT f.name, t.key, t.value FROM tags t JOIN files f ON f.id = t.file_id",
    ),
    [{ name: "pulse.trc", key: "sample", value: "A12" }],
  );
  // Tags without a catalog to put them in: one line, nothing sent.
  const untagged = await runTask("upload_data_file", [
    ...["--config", config, "--topic_name", second, "--tag", "sample=A12"],
    `${SAMPLES}/pulse.trc`,
  ]);
  deepStrictEqual(untagged.code, 2, untagged.stderr);
  ok(untagged.stderr.includes("--tag needs --catalog"), untagged.stderr);
  const pulse = (await transfers(db)).filter((r) =>
    r.name === "pulse.trc" && r.direction === "sent"
  );
  deepStrictEqual(pulse.map((r) => r.topic), [topic, second]);

  const before = await queryRows(
    db,
    "SELECT path, source, topic, n_chunks, chunk_size, rebuilt_by FROM files ORDER BY path",
  );
  const count = (await transfers(db)).length;
  const paths = before.map((r) => String(r.path));
  const run = await runTask("metadata_uploader", ["--db", db, ...paths]);
  deepStrictEqual(run.code, 0, run.stderr);
  deepStrictEqual(
    await queryRows(
      db,
      "SELECT path, source, topic, n_chunks, chunk_size, rebuilt_by FROM files ORDER BY path",
    ),
    before,
  );
  deepStrictEqual((await transfers(db)).length, count);
  // `catalog show` prints the whole history of the file, oldest first.
  const show = await runTask("catalog", ["show", "--db", db, "pulse.trc"]);
  deepStrictEqual(show.code, 0, show.stderr);
  for (
    const text of [
      "history (2 transfers",
      `topic=${topic} `,
      `topic=${second} `,
    ]
  ) {
    ok(show.stdout.includes(text), `${text} in:\n${show.stdout}`);
  }
}

Deno.test("a bare --catalog means out/catalog.db and never swallows the path after it", () => {
  deepStrictEqual(withCatalogValue(["--catalog", "out/rebuilt"]), [
    "--catalog=out/catalog.db",
    "out/rebuilt",
  ]);
  deepStrictEqual(
    withCatalogValue(["--catalog", "out/lab.sqlite", "a.trc", "--catalog"]),
    ["--catalog=out/lab.sqlite", "a.trc", "--catalog=out/catalog.db"],
  );
  deepStrictEqual(
    withCatalogValue(["--catalog", "postgresql://lab@db/catalog", "runs/"]),
    ["--catalog=postgresql://lab@db/catalog", "runs/"],
  );
  deepStrictEqual(withCatalogValue(["--catalog=x.db", "y"]), [
    "--catalog=x.db",
    "y",
  ]);
});

Deno.test("a catalog made before rebuilt_by existed gets the column, and rebuilt rows name their member", async (t) => {
  const dir = await makeOutTempDir("catalog-migrate");
  const file = `${ROOT}${dir}/x.bin`;
  await Deno.writeTextFile(file, "hello");
  const columns = (id: string) =>
    `CREATE TABLE files (id ${id}, name TEXT NOT NULL, subdir TEXT NOT NULL,
      path TEXT NOT NULL UNIQUE, size_bytes BIGINT NOT NULL, sha512 TEXT NOT NULL,
      modified_at TEXT NOT NULL, cataloged_at TEXT NOT NULL, source TEXT NOT NULL,
      topic TEXT, n_chunks INTEGER, chunk_size INTEGER)`;
  await onBothDatabases(t, "older catalog", dir, async ({ db }, pg) => {
    if (pg) {
      await queryRows(
        db,
        columns("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
      );
    } else {
      const sqlite = new DatabaseSync(`${ROOT}${db}`);
      sqlite.exec(columns("INTEGER PRIMARY KEY AUTOINCREMENT"));
      sqlite.close();
    }
    for (let open = 0; open < 2; open++) {
      const catalog = await Catalog.open(db);
      await catalog.add(file, "", {
        source: "kafka",
        transfer: {
          direction: "rebuilt",
          topic: "lecroy_files",
          nChunks: 1,
          receivedBy: `labpc${open} (pid 7)`,
        },
      });
      await catalog.close();
    }
    deepStrictEqual(
      await queryRows(db, "SELECT name, source, rebuilt_by FROM files"),
      [{ name: "x.bin", source: "kafka", rebuilt_by: "labpc1 (pid 7)" }],
    );
  });
  await Deno.remove(`${ROOT}${dir}`, { recursive: true });
});
