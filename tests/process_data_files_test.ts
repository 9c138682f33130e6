/**
 * process_data_files against a real broker: each file version that arrives
 * is handed to the processor once (bytes in memory, or a path above
 * `--max_file_mb`), a processor that throws or hangs fails that file only,
 * `--retry_failed` runs the failed files without reading the topic again, a
 * run killed with SIGKILL and restarted processes every file once, members of
 * one group share the files, and the two example processors draw LeCroy
 * plots and produce metadata JSON.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { BackgroundTask } from "./helpers/background_task.ts";
import {
  createTopic,
  sha512File,
  startTestBroker,
  uniqueTopic,
  writeRandomFile,
  writeTestConfig,
} from "./helpers/kafka.ts";
import { readWithKcat } from "./helpers/kafka_readers.ts";
import {
  openMsiUploadFile,
  writeOpenMsiConfig,
} from "./helpers/openmsistream.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";
import { SAMPLES } from "./helpers/trc_files.ts";

/**
 * A processor for the tests: it appends one line per file to `log`
 * (name, size, SHA-512, memory or disk, topic), after `delay_ms`; it throws
 * for names containing `fail` and spins for ever (a busy loop only a
 * terminated Worker stops) for names containing `hang`.
 */
const RECORDING_PROCESSOR = `
export async function processFile(file, context) {
  const o = context.options;
  if (o.fail && file.name.includes(o.fail)) throw new Error("refusing " + file.name);
  if (o.hang && file.name.includes(o.hang)) for (;;) { /* hang */ }
  if (o.delay_ms) await new Promise((r) => setTimeout(r, Number(o.delay_ms)));
  const from = file.bytes ? "memory" : "disk";
  const bytes = file.bytes ?? await Deno.readFile(file.path);
  const line = [file.relativePath, bytes.length, file.sha512, from, file.kafka?.topic ?? "-"].join(" ");
  await Deno.writeTextFile(o.log, line + "\\n", { append: true });
}
`;

/** One processed file, as the recording processor logged it. */
interface Recorded {
  name: string;
  size: number;
  sha512: string;
  from: string;
  topic: string;
}

/** The recording processor's log lines. */
async function recorded(log: string): Promise<Recorded[]> {
  const text = await Deno.readTextFile(`${ROOT}${log}`).catch(() => "");
  return text.split("\n").filter((l) => l).map((line) => {
    const [name, size, sha512, from, topic] = line.split(" ");
    return { name, size: Number(size), sha512, from, topic };
  });
}

/** Waits until the log holds `count` lines; fails if every task exited. */
async function waitForRecorded(
  log: string,
  count: number,
  tasks: BackgroundTask[],
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await recorded(log)).length < count) {
    if (tasks.every((t) => t.exited) || Date.now() > deadline) {
      throw new Error(
        `${log} never got ${count} lines:\n${
          tasks.map((t) => t.stdout.text + t.stderr.text).join("\n")
        }`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Writes `count` random files of `size` bytes; name -> SHA-512. */
async function writeFiles(
  folder: string,
  count: number,
  size: number,
  prefix = "f",
): Promise<Map<string, string>> {
  await Deno.mkdir(`${ROOT}${folder}`, { recursive: true });
  const files = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const name = `${prefix}${String(i).padStart(3, "0")}.bin`;
    await writeRandomFile(`${ROOT}${folder}/${name}`, size, size * 1000 + i);
    files.set(name, await sha512File(`${ROOT}${folder}/${name}`));
  }
  return files;
}

/** Uploads a folder; fails unless the upload said Done!. */
async function upload(config: string, topic: string, folder: string) {
  const run = await runTask("upload_data_file", [
    "--config",
    config,
    "--topic_name",
    topic,
    "--chunk_size",
    "16384",
    folder,
  ]);
  deepStrictEqual(run.code, 0, run.stdout + run.stderr);
}

/** A process_data_files in the background. */
function processor(
  config: string,
  topic: string,
  workingDir: string,
  processorPath: string,
  extra: string[] = [],
): BackgroundTask {
  return new BackgroundTask("process_data_files", [
    "--config",
    config,
    "--topic_name",
    topic,
    "--working_dir",
    workingDir,
    "--processor",
    processorPath,
    "--update_seconds",
    "-1",
    ...extra,
  ]);
}

/** Rows of a working folder's registry: path -> outcome. */
function registryRows(workingDir: string): Map<string, string> {
  const db = new DatabaseSync(`${ROOT}${workingDir}/registry.db`, {
    readOnly: true,
  });
  try {
    const rows = db.prepare("SELECT relative_path, outcome FROM files").all();
    return new Map(
      rows.map((r) => [String(r.relative_path), String(r.outcome)]),
    );
  } finally {
    db.close();
  }
}

Deno.test("a processor that cannot be loaded is one line and exit 1, before Kafka is asked", async () => {
  const dir = await makeOutTempDir("process-bad");
  try {
    await Deno.writeTextFile(`${ROOT}${dir}/none.ts`, "export const x = 1;\n");
    await Deno.writeTextFile(`${ROOT}${dir}/broken.ts`, "export function (\n");
    await Deno.writeTextFile(
      `${ROOT}${dir}/fine.ts`,
      "export function processFile() {}\n",
    );
    const cases: [string[], RegExp][] = [
      [["--processor", `${dir}/missing.ts`], /no processor file .*missing\.ts/],
      [
        ["--processor", `${dir}/none.ts`],
        /does not export a function processFile/,
      ],
      [
        ["--processor", `${dir}/broken.ts`],
        /cannot load processor .*broken\.ts/,
      ],
      [
        ["--processor", `${dir}/fine.ts`, "--processor_options", "plots_dir"],
        /--processor_options: "plots_dir" is not key=value/,
      ],
    ];
    for (const [args, expected] of cases) {
      // The processor and its options are checked before Kafka is asked.
      const run = await runTask("process_data_files", args);
      deepStrictEqual(run.code, 1, run.stdout + run.stderr);
      const lines = run.stderr.trim().split("\n");
      deepStrictEqual(lines.length, 1, run.stderr);
      ok(expected.test(lines[0]), run.stderr);
      ok(!/Uncaught| {4}at /.test(run.stderr), run.stderr);
    }
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

Deno.test("process_data_files against a real broker", async (t) => {
  const broker = await startTestBroker();
  const dir = await makeOutTempDir("process");
  const config = await writeTestConfig(dir, broker.bootstrap);
  const recording = `${dir}/recording.ts`;
  await Deno.writeTextFile(`${ROOT}${recording}`, RECORDING_PROCESSOR);
  try {
    await t.step(
      "each file once, identical; bytes in memory up to --max_file_mb, a path above; provenance",
      async () => {
        const topic = uniqueTopic("process_once");
        const small = await writeFiles(`${dir}/once`, 5, 3000);
        const big = await writeFiles(`${dir}/once`, 1, 3 * 1024 * 1024, "big");
        const log = `${dir}/once.log`;
        await upload(config, topic, `${dir}/once`);
        const task = processor(config, topic, `${dir}/once-work`, recording, [
          "--max_file_mb",
          "1",
          "--processor_options",
          `log=${log}`,
        ]);
        await waitForRecorded(log, 6, [task]);
        const run = await task.quit();
        deepStrictEqual(run.code, 0, run.stderr);
        const lines = await recorded(log);
        const expected = new Map([...small, ...big]);
        deepStrictEqual(
          lines.map((l) => l.name).sort(),
          [...expected.keys()].sort(),
        );
        for (const line of lines) {
          deepStrictEqual(line.sha512, expected.get(line.name), line.name);
          deepStrictEqual(
            line.from,
            line.name.startsWith("big") ? "disk" : "memory",
          );
          deepStrictEqual(line.topic, topic);
        }
        // A fresh group reads the topic again: the registry runs nothing twice.
        const again = processor(config, topic, `${dir}/once-work`, recording, [
          "--processor_options",
          `log=${log}`,
        ]);
        for (const name of expected.keys()) {
          await again.stdout.waitFor(`Skipped ${name}: processed before`);
        }
        deepStrictEqual((await again.quit()).code, 0);
        deepStrictEqual((await recorded(log)).length, 6);
        // Processed files leave the working folder; the registry keeps them.
        deepStrictEqual(
          [...registryRows(`${dir}/once-work`).values()],
          Array(6).fill("processed"),
        );
      },
    );

    await t.step(
      "a processor that throws or hangs fails that file only, in one line; --retry_failed runs them without reading the topic",
      async () => {
        const topic = uniqueTopic("process_fail");
        await writeFiles(`${dir}/fail`, 3, 2000, "ok");
        await writeFiles(`${dir}/fail`, 1, 2000, "bad");
        await writeFiles(`${dir}/fail`, 1, 2000, "hang");
        const log = `${dir}/fail.log`;
        const work = `${dir}/fail-work`;
        const group = ["--consumer_group_ID", `fail-${crypto.randomUUID()}`];
        await upload(config, topic, `${dir}/fail`);
        const first = processor(config, topic, work, recording, [
          ...group,
          "--processor_timeout",
          "2",
          "--processor_options",
          `log=${log},fail=bad,hang=hang`,
        ]);
        await first.stdout.waitFor(/Processing hang000\.bin failed/);
        await waitForRecorded(log, 3, [first]);
        await first.stdout.waitFor(/Processing bad000\.bin failed/);
        const run = await first.quit();
        deepStrictEqual(run.code, 0, run.stderr);
        const failures = run.stdout.split("\n").filter((l) =>
          / failed: /.test(l)
        );
        deepStrictEqual(failures.length, 2, run.stdout);
        ok(
          failures.some((l) => l.endsWith("failed: refusing bad000.bin")),
          run.stdout,
        );
        ok(
          failures.some((l) =>
            /hang000\.bin failed: it did not finish within 2 s/.test(l)
          ),
          run.stdout,
        );
        deepStrictEqual((await recorded(log)).map((l) => l.name).sort(), [
          "ok000.bin",
          "ok001.bin",
          "ok002.bin",
        ]);
        deepStrictEqual(registryRows(work).get("bad000.bin"), "failed");

        // Fixed processor, same group: the failed files are run from the
        // working folder; nothing is read from the topic.
        const retry = processor(config, topic, work, recording, [
          ...group,
          "--retry_failed",
          "--processor_options",
          `log=${log}`,
        ]);
        await waitForRecorded(log, 5, [retry]);
        await retry.stdout.waitFor('Type "check"');
        const again = await retry.quit();
        deepStrictEqual(again.code, 0, again.stderr);
        ok(again.stdout.includes("Stopped. 0 messages read"), again.stdout);
        const names = (await recorded(log)).map((l) => l.name).sort();
        deepStrictEqual(names, [
          "bad000.bin",
          "hang000.bin",
          "ok000.bin",
          "ok001.bin",
          "ok002.bin",
        ]);
        ok([...registryRows(work).values()].every((o) => o === "processed"));
      },
    );

    await t.step(
      "killed with SIGKILL mid-run and restarted: every file processed once, none skipped",
      async () => {
        const topic = uniqueTopic("process_kill");
        const files = await writeFiles(`${dir}/kill`, 40, 1000);
        const log = `${dir}/kill.log`;
        const work = `${dir}/kill-work`;
        const args = [
          "--consumer_group_ID",
          `kill-${crypto.randomUUID()}`,
          "--processor_options",
          `log=${log},delay_ms=100`,
        ];
        await upload(config, topic, `${dir}/kill`);
        const doomed = processor(config, topic, work, recording, args);
        await waitForRecorded(log, 10, [doomed]);
        await doomed.kill();
        const before = (await recorded(log)).length;
        ok(before < 40, `killed too late: ${before} files done`);
        const restarted = processor(config, topic, work, recording, args);
        await waitForRecorded(log, 40, [restarted]);
        // Give a doubled file time to show up before looking.
        await restarted.stdout.waitFor('Type "check"');
        await new Promise((r) => setTimeout(r, 1000));
        const run = await restarted.quit();
        deepStrictEqual(run.code, 0, run.stderr);
        const names = (await recorded(log)).map((l) => l.name).sort();
        deepStrictEqual(names, [...files.keys()].sort());
        deepStrictEqual(registryRows(work).size, 40);
      },
    );

    await t.step(
      "two members in one group share the files: each processed by one of them, once",
      async () => {
        const topic = uniqueTopic("process_share");
        await createTopic(broker.bootstrap, topic, 6);
        const files = await writeFiles(`${dir}/share`, 30, 1000);
        const log = `${dir}/share.log`;
        const args = [
          "--consumer_group_ID",
          `share-${crypto.randomUUID()}`,
          "--processor_options",
          `log=${log},delay_ms=50`,
        ];
        const members = [0, 1].map((i) =>
          processor(config, topic, `${dir}/share-work${i}`, recording, args)
        );
        await Promise.all(members.map((m) => m.stdout.waitFor('Type "check"')));
        await upload(config, topic, `${dir}/share`);
        await waitForRecorded(log, 30, members);
        const runs = await Promise.all(members.map((m) => m.quit()));
        for (const run of runs) deepStrictEqual(run.code, 0, run.stderr);
        const names = (await recorded(log)).map((l) => l.name).sort();
        deepStrictEqual(names, [...files.keys()].sort());
        const shares = [0, 1].map((i) =>
          registryRows(`${dir}/share-work${i}`).size
        );
        ok(shares.every((n) => n > 0), `shares ${shares}`);
      },
    );

    await t.step(
      "a LeCroy file uploaded by OpenMSIStream itself (chunks spread over partitions) is processed once, identical",
      async () => {
        const topic = uniqueTopic("process_openmsi");
        await createTopic(broker.bootstrap, topic, 3);
        const log = `${dir}/openmsi.log`;
        // A copy: OpenMSIStream writes its log file beside the file it sends,
        // and the shared samples folder must stay as it is.
        const original = `${ROOT}${dir}/pulse_sequence.trc`;
        await Deno.copyFile(`${ROOT}${SAMPLES}/pulse_sequence.trc`, original);
        const openMsiConfig = await writeOpenMsiConfig(dir, broker.bootstrap);
        await openMsiUploadFile(
          broker.bootstrap,
          openMsiConfig,
          topic,
          original,
          4096,
        );
        const task = processor(
          config,
          topic,
          `${dir}/openmsi-work`,
          recording,
          [
            "--consumer_group_ID",
            `openmsi-${crypto.randomUUID()}`,
            "--processor_options",
            `log=${log}`,
          ],
        );
        await waitForRecorded(log, 1, [task]);
        deepStrictEqual((await task.quit()).code, 0);
        const [line] = await recorded(log);
        deepStrictEqual(line.name, "pulse_sequence.trc");
        deepStrictEqual(line.sha512, await sha512File(original));
        // Its chunks came through the group's repartition topic, keyed by file.
        ok(line.topic !== topic && line.topic.includes(topic), line.topic);
      },
    );

    await t.step(
      "the examples: one SVG per LeCroy waveform, and each file's WAVEDESC as JSON on another topic",
      async () => {
        const topic = uniqueTopic("process_lecroy");
        const output = uniqueTopic("process_metadata");
        const source = `${dir}/lecroy`;
        await Deno.mkdir(`${ROOT}${source}`);
        const names = [
          "header.trc",
          "issue_1.trc",
          "pulse.trc",
          "pulse_sequence.trc",
        ];
        for (const name of names) {
          await Deno.writeFile(
            `${ROOT}${source}/${name}`,
            await Deno.readFile(`${ROOT}${SAMPLES}/${name}`),
          );
        }
        await upload(config, topic, source);
        const plots = processor(
          config,
          topic,
          `${dir}/plots-work`,
          "scripts/processors/lecroy_plots.ts",
          [
            "--processor_options",
            `plots_dir=${dir}/plots`,
          ],
        );
        await plots.stdout.waitFor("Processed pulse_sequence.trc");
        await plots.stdout.waitFor("Processed issue_1.trc");
        await plots.stdout.waitFor("Processed pulse.trc");
        await plots.stdout.waitFor("Processed header.trc");
        deepStrictEqual((await plots.quit()).code, 0);
        const svgs = [];
        for await (const entry of Deno.readDir(`${ROOT}${dir}/plots`)) {
          svgs.push(entry.name);
        }
        // header.trc holds no samples: no plot, but a row in the index.
        deepStrictEqual(svgs.sort(), [
          "index.html",
          "issue_1.trc.svg",
          "pulse.trc.svg",
          "pulse_sequence.trc.svg",
        ]);
        ok(
          (await Deno.readTextFile(`${ROOT}${dir}/plots/pulse.trc.svg`))
            .startsWith("<svg"),
        );

        const reproducer = processor(
          config,
          topic,
          `${dir}/meta-work`,
          "scripts/processors/metadata_reproducer.ts",
          [
            "--processor_options",
            `output_topic_name=${output}`,
          ],
        );
        for (const name of names) {
          await reproducer.stdout.waitFor(`Processed ${name}`);
        }
        deepStrictEqual((await reproducer.quit()).code, 0);
        const expected = JSON.parse(
          await Deno.readTextFile(`${ROOT}${SAMPLES}/expected.json`),
        );
        const messages = await readWithKcat(broker.bootstrap, output);
        deepStrictEqual(
          messages.map((m) => m.key).sort(),
          names.map((n) => `_${n}_processing_result`).sort(),
        );
        for (const message of messages) {
          const json = JSON.parse(new TextDecoder().decode(message.value));
          const want = expected[json.filename];
          deepStrictEqual(json.sha512, want.sha512);
          deepStrictEqual(json.instrument_name, want.instrument_name);
          deepStrictEqual(json.wave_array_count, want.wave_array_count);
          deepStrictEqual(json.kafka.topic, topic);
        }
      },
    );
    await t.step(
      "bench_process measures small files per second and a big file's peak RSS, every file checked",
      async () => {
        const result = await runTask("bench_process", [
          "--config",
          config,
          "--files",
          "20",
          "--small_kb",
          "1",
          "--big_mb",
          "3",
          "--max_file_mb",
          "1",
        ]);
        deepStrictEqual(result.code, 0, result.stdout + result.stderr);
        ok(
          /20 files of 1 KiB: [\d.]+ files\/s, .* peak RSS \d+ MB/.test(
            result.stdout,
          ),
          result.stdout,
        );
        ok(
          /1 file of 3 MiB: [\d.]+ MB\/s .* peak RSS \d+ MB/.test(
            result.stdout,
          ),
          result.stdout,
        );
      },
    );
  } finally {
    await broker.stop();
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});
