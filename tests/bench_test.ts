/**
 * `deno task bench --peers` against a real broker with Kafka's Java perf
 * tools and kcat, on a tiny file: every tool runs, the rebuilt file is
 * identical, the results and the chart are written, the topics are gone
 * afterwards. `deno task bench` with two file sizes, a few small files and
 * a short idle watcher: the memory lines, the small files' runs (every file
 * back) and the watcher's CPU are reported. Plus the pieces the figures come
 * from: the Java tools' summary lines, kcat's input file, the table and the
 * chart, the blocks and trend of the small files, the memory check. No
 * timing is asserted.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import {
  parseConsumerPerformance,
  parseProducerPerformance,
  writeKcatInput,
} from "../lib/bench/peer_tools.ts";
import {
  type BenchRun,
  clientFloors,
  formatMemory,
  formatTable,
  javaRatios,
  memoryFlatness,
  summarize,
} from "../lib/bench/bench_results.ts";
import {
  blockSecondsPer1000,
  completionTimes,
  fittedTrend,
  formatSmallFiles,
  type SmallFilesRun,
} from "../lib/bench/small_files.ts";
import type { WatcherIdle } from "../lib/bench/watcher_idle.ts";
import { throughputSvg } from "../lib/bench/throughput_chart.ts";
import {
  PageCacheSettler,
  SETTLED_FACTOR,
  writeProbe,
} from "../lib/bench/page_cache.ts";
import { connectAdmin, createKafka } from "../lib/kafka/client.ts";
import { loadKafkaConfig } from "../lib/kafka/config.ts";
import { startTestBroker, writeTestConfig } from "./helpers/kafka.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";

/** A run record with the given figure. */
function run(
  tool: BenchRun["tool"],
  direction: BenchRun["direction"],
  recordSize: number,
  mbPerSecond: number,
): BenchRun {
  return {
    tool,
    direction,
    recordSize,
    sizeMb: 64,
    round: 1,
    mbPerSecond,
    seconds: 1,
    peakRssMb: 100,
    cpuPercent: 50,
  };
}

Deno.test("the Java tools' summaries are read in MB (10^6 bytes) per second", () => {
  const producer =
    "8192 records sent, 3267.7 records/sec (51.06 MB/sec), 166.05 ms avg latency, 982.00 ms max latency, 170 ms 50th";
  deepStrictEqual(
    parseProducerPerformance(`progress line\n${producer}\n`).toFixed(2),
    (51.06 * 1.048576).toFixed(2),
  );
  const consumer =
    "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n" +
    "2026-12-02 00:59:35:945, 2026-12-02 00:59:41:947, 256.0000, 42.6524, 16384, 2729.7567, 1421, 4581, 55.8830, 3576.5117\n";
  deepStrictEqual(
    parseConsumerPerformance(consumer).toFixed(2),
    (42.6524 * 1.048576).toFixed(2),
  );
});

Deno.test("kcat's input has one line per record, of the record size, with no newline inside", async () => {
  const dir = await makeOutTempDir("bench-kcat");
  const source = `${ROOT}${dir}/source.bin`;
  const bytes = new Uint8Array(3 * 1000 + 123).map((_, i) =>
    i % 7 === 0 ? 0x0a : i % 256
  );
  await Deno.writeFile(source, bytes);
  strictEqual(
    await writeKcatInput(source, `${ROOT}${dir}/kcat.txt`, 1000),
    true,
  );
  // Written once: the next run reuses it (and nothing is synced again).
  strictEqual(
    await writeKcatInput(source, `${ROOT}${dir}/kcat.txt`, 1000),
    false,
  );
  const written = await Deno.readFile(`${ROOT}${dir}/kcat.txt`);
  const newlines = [...written.keys()].filter((i) => written[i] === 0x0a);
  deepStrictEqual(newlines, [1000, 2001, 3002, 3126]);
  const payload = written.filter((_, i) => !newlines.includes(i));
  deepStrictEqual(payload, bytes.map((byte) => byte === 0x0a ? 0x0b : byte));
  await Deno.remove(`${ROOT}${dir}`, { recursive: true });
});

Deno.test("the table gives each run's figure and the project/Java ratios; the chart has a bar per tool and size", () => {
  const runs = [16384, 524288].flatMap((size) => [
    run("project", "produce", size, 40),
    run("java", "produce", size, 100),
    run("kcat", "produce", size, 200),
    run("project", "consume", size, 60),
    run("java", "consume", size, 300),
  ]);
  const rows = summarize(runs);
  const ratios = javaRatios(rows);
  const table = formatTable(rows, ratios);
  match(table, /upload_data_file\s+produce\s+16 KiB\s+40\.0/);
  match(table, /kcat -P\s+produce\s+512 KiB\s+200\.0/);
  match(table, /upload 16 KiB: project\/Java 0\.40/);
  match(table, /rebuild 512 KiB: project\/Java 0\.20/);
  const svg = throughputSvg(rows, ratios, { title: "t", subtitle: "s" });
  deepStrictEqual(svg.match(/<\/title><\/rect>/g)?.length, 10); // one bar per row
  for (const name of ["upload_data_file", "ConsumerPerformance", "kcat -P"]) {
    ok(svg.includes(`<title>${name}, 16 KiB:`), name);
  }
  match(svg, /this project/);
  match(svg, /project\/Java 0\.40/);
});

Deno.test("the client-alone lines give the project's extra memory and its share of the client's speed", () => {
  const runs = [
    { ...run("project", "consume", 16384, 150), peakRssMb: 210 },
    { ...run("client", "consume", 16384, 300), peakRssMb: 178 },
    { ...run("project", "produce", 524288, 180), peakRssMb: 120 },
    { ...run("client", "produce", 524288, 200), peakRssMb: 124 },
    run("project", "produce", 16384, 100), // no client run beside it
  ];
  deepStrictEqual(clientFloors(summarize(runs)), [
    "upload 512 KiB over the client alone: peak RSS 120 vs 124 MB (-4), 0.90x its MB/s (180.0 vs 200.0)",
    "rebuild 16 KiB over the client alone: peak RSS 210 vs 178 MB (+32), 0.50x its MB/s (150.0 vs 300.0)",
  ]);
});

Deno.test("a run waits until page-cache writes are back near the fastest seen, at most the longest wait", async () => {
  deepStrictEqual(SETTLED_FACTOR, 1.5);
  // Scripted probe times (ms), as a machine still reclaiming memory gives them.
  const scripted = (times: number[]) => {
    const written: number[] = [];
    let calls = 0;
    const probe = (_path: string, bytes: Uint8Array) => {
      written.push(bytes.length);
      // A wait that never ends fails the test instead of hanging it.
      if (++calls > 1000) throw new Error("probed 1000 times");
      return Promise.resolve(times.shift() ?? 200); // then slow for good
    };
    return { probe, written };
  };
  const { probe, written } = scripted([30, 31, 120, 95, 46, 45, NaN, 44]);
  const settler = new PageCacheSettler("unused", {
    probe,
    pauseMs: 1,
    maxMs: 60_000,
    probeBytes: 1024,
  });
  // The first wait takes two probes; the best is the fastest of them.
  const first = await settler.settle();
  deepStrictEqual([first.probesMs, first.settled, first.bestMs], [
    [30, 31],
    true,
    30,
  ]);
  // Then until a probe is within SETTLED_FACTOR of the best: 46 is not,
  // 45 = 1.5 * 30 is.
  const second = await settler.settle();
  deepStrictEqual([second.probesMs, second.settled], [[120, 95, 46, 45], true]);
  // A probe time that is no number counts as slow and leaves the best alone.
  const third = await settler.settle();
  deepStrictEqual([third.probesMs, third.bestMs], [[NaN, 44], 30]);
  ok(written.length === 8 && written.every((n) => n === 1024));
  // A spell that does not end: the run starts anyway after maxMs.
  const slow = scripted([10, 10]);
  const capped = new PageCacheSettler("unused", {
    probe: slow.probe,
    pauseMs: 1,
    maxMs: 50,
    probeBytes: 1024,
  });
  await capped.settle();
  const endless = await capped.settle();
  ok(!endless.settled);
  ok(
    endless.probesMs.length >= 2 && endless.probesMs.every((ms) => ms === 200),
  );
  ok(endless.waitedSeconds >= 0.05 && endless.waitedSeconds < 5);
  // The real probe writes the bytes to a new file and removes it; a write
  // that fails is an error.
  const dir = await makeOutTempDir("page-cache");
  const path = `${ROOT}${dir}/probe`;
  ok(await writeProbe(path, new Uint8Array(4096)) >= 0);
  deepStrictEqual(await Deno.stat(path).catch(() => "gone"), "gone");
  await writeProbe(`${path}/no/such/folder`, new Uint8Array(1)).then(
    () => ok(false, "a write into a missing folder succeeded"),
    (error) => ok(error instanceof Deno.errors.NotFound),
  );
  await Deno.remove(`${ROOT}${dir}`, { recursive: true });
});

Deno.test("bench --peers --client runs the project, the client alone, Kafka's Java perf tools and kcat, and cleans up", async () => {
  const broker = await startTestBroker();
  try {
    const dir = await makeOutTempDir("bench-peers");
    const config = await writeTestConfig(dir, broker.bootstrap);
    const settings = await loadKafkaConfig(`${ROOT}${config}`);
    const admin = await connectAdmin(createKafka(settings), settings);
    const topicsBefore = await admin.listTopics();
    const result = await runTask("bench", [
      ...["--peers", "--client", "--config", config, "--out_dir", dir],
      ...["--sizes_mb", "1", "--chunk_sizes", "16384,524288", "--rounds", "2"],
      ...["--small_files", "0", "--idle_seconds", "0", "--warmup_mb", "2"],
    ]);
    deepStrictEqual(result.code, 0, result.stderr);
    match(result.stdout, /project\/Java/);
    // One untimed upload and rebuild per chunk size, before the rounds, not
    // among the runs counted below.
    deepStrictEqual(
      result.stdout.match(
        /warm-up \(not counted\): 2 MiB up at [\d.]+ MB\/s, back at [\d.]+ MB\/s/g,
      )?.length,
      2,
      result.stdout,
    );
    ok(
      result.stdout.indexOf("warm-up") < result.stdout.indexOf("round 1:"),
      "the warm-up comes first",
    );
    match(
      result.stdout,
      /rebuild 512 KiB over the client alone: peak RSS \d+ vs \d+ MB/,
    );
    const results = JSON.parse(
      await Deno.readTextFile(`${ROOT}${dir}/results.json`),
    );
    const runs: BenchRun[] = results.runs;
    // 4 tools x 2 directions x 2 record sizes x 2 rounds.
    deepStrictEqual(runs.length, 32);
    for (const tool of ["project", "client", "java", "kcat"]) {
      deepStrictEqual(runs.filter((r) => r.tool === tool).length, 8, tool);
    }
    ok(runs.every((r) => r.mbPerSecond > 0 && r.peakRssMb > 0));
    // The kernel's share of each run's CPU time, from GNU time.
    ok(
      runs.every((r) =>
        r.systemSeconds !== undefined && Number.isFinite(r.systemSeconds) &&
        r.systemSeconds >= 0
      ),
    );
    deepStrictEqual(
      runs.filter((r) => r.tool === "project" && r.direction === "consume")
        .map((r) => r.identical),
      [true, true, true, true],
    );
    ok(
      runs.filter((r) => r.tool === "java").every((r) =>
        r.reportedMbPerSecond! > 0
      ),
    );
    match(await Deno.readTextFile(`${ROOT}${dir}/throughput.svg`), /^<svg /);
    // Every run was preceded by page-cache probes, which left no file.
    ok(runs.every((r) => r.pageCacheMs! >= 0), "a run without a probe");
    deepStrictEqual(
      await Deno.stat(`${ROOT}${dir}/.page_cache_probe`).catch(() => "gone"),
      "gone",
    );
    // --small_files 0 --idle_seconds 0: neither measured; one size: no memory check.
    deepStrictEqual(
      [results.smallFiles, results.watcherIdle, results.memory],
      [undefined, undefined, []],
    );
    // bench_client alone: a topic that is not there is one line, exit 1.
    const missing = await runTask("bench_client", [
      ...["consume", "--config", config, "--topic_name", "no_such_topic"],
    ]);
    deepStrictEqual(missing.code, 1);
    deepStrictEqual(
      missing.stderr.trim(),
      "bench_client: error: topic no_such_topic does not exist (deno task bench --client makes its own)",
    );
    // The benchmark's topics are deleted once measured.
    const left = (await admin.listTopics()).filter((t) =>
      t.startsWith("bench_") && !topicsBefore.includes(t)
    );
    await admin.disconnect();
    deepStrictEqual(left, []);
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  } finally {
    await broker.stop();
  }
});

Deno.test("bench --members rebuilds whole and spread (repartitioned) files with groups of 1 and 2 members, files identical, with members' and broker's CPU", async () => {
  const broker = await startTestBroker();
  try {
    const dir = await makeOutTempDir("bench-members");
    const config = await writeTestConfig(dir, broker.bootstrap);
    const result = await runTask("bench", [
      ...["--members", "1,2", "--config", config, "--out_dir", dir],
      ...["--sizes_mb", "2", "--chunk_sizes", "16384", "--rounds", "1"],
    ]);
    deepStrictEqual(result.code, 0, result.stderr);
    for (const how of ["whole", "spread over partitions, repartitioned"]) {
      match(
        result.stdout,
        new RegExp(
          `1 member\\(s\\), ${how}: [\\d.]+ MB/s .*files 12, member CPU \\d+%, broker CPU \\d+%, SHA-512 identical`,
        ),
      );
      match(
        result.stdout,
        new RegExp(
          `2 member\\(s\\), ${how}: [\\d.]+ MB/s .*files \\d+\\+\\d+, member CPU \\d+% \\d+%, broker CPU \\d+%, SHA-512 identical`,
        ),
      );
    }
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  } finally {
    await broker.stop();
  }
});

Deno.test("the small files' completion times make ten blocks per 1000 files and a fitted trend", () => {
  const even = Array.from({ length: 10001 }, (_, i) => i / 1000);
  deepStrictEqual(
    blockSecondsPer1000(even).map((s) => s.toFixed(6)),
    Array(10).fill("1.000000"),
  );
  deepStrictEqual(
    fittedTrend(blockSecondsPer1000(even)).toFixed(6),
    "1.000000",
  );
  // Each file costs a little more than the one before: the trend shows it.
  const growing = [0];
  for (let i = 1; i < 10000; i++) growing.push(growing[i - 1] + i / 1e6);
  const blocks = blockSecondsPer1000(growing);
  deepStrictEqual(blocks.length, 10);
  ok(blocks.every((s, i) => i === 0 || s > blocks[i - 1]));
  ok(fittedTrend(blocks) > 5);
  deepStrictEqual(blockSecondsPer1000([5]), []);
  deepStrictEqual(blockSecondsPer1000([1, 2, 4]), [1000, 2000]);
  // Samples of [seconds, messages so far], interpolated per message.
  deepStrictEqual(completionTimes([[0, 0], [1, 2], [2, 4]], 4), [
    0.5,
    1,
    1.5,
    2,
  ]);
  deepStrictEqual(completionTimes([[0, 0], [1, 3]], 5), [1 / 3, 2 / 3, 1]);
});

Deno.test("peak RSS from the smallest to the largest file is flat within 10% or said not to be", () => {
  const at = (
    sizeMb: number,
    direction: BenchRun["direction"],
    peak: number,
  ) => ({
    ...run("project", direction, 16384, 40),
    sizeMb,
    peakRssMb: peak,
  });
  const checks = memoryFlatness([
    at(256, "produce", 200),
    at(4096, "produce", 215),
    at(256, "consume", 150),
    at(4096, "consume", 180),
    { ...run("java", "produce", 16384, 100), sizeMb: 4096, peakRssMb: 900 },
  ]);
  deepStrictEqual(checks.map((c) => [c.direction, c.change, c.flat]), [
    ["produce", 0.075, true],
    ["consume", 0.2, false],
  ]);
  const text = formatMemory(checks);
  match(
    text,
    /256 MiB -> 4096 MiB: upload 16 KiB 200 -> 215 MB \(\+7\.5%\): within 10%/,
  );
  match(text, /rebuild 16 KiB 150 -> 180 MB \(\+20\.0%\): NOT within 10%/);
  deepStrictEqual(memoryFlatness([at(256, "produce", 200)]), []);
});

Deno.test("the small-files table gives files/s, the first and last block and the trend per direction", () => {
  const small = (direction: BenchRun["direction"], trend: number) => ({
    direction,
    files: 10000,
    fileBytes: 10240,
    seconds: 20,
    filesPerSecond: 500,
    mbPerSecond: 5.12,
    secondsPer1000: [2, 2.5],
    trend,
    peakRssMb: 120,
    cpuPercent: 80,
  });
  const table = formatSmallFiles([
    small("produce", 1.05),
    small("consume", 1.8),
  ]);
  match(
    table,
    /upload_data_file\s+produce\s+10000 x 10 KiB\s+500\.0\s+5\.12\s+2\.00, 2\.50\s+flat \(x1\.05\)/,
  );
  match(table, /reconstruct_data_files\s+consume .*RISING \(x1\.80\)/);
});

Deno.test("bench reports peak RSS across two sizes, small files each way (all back, identical) and the idle watcher's CPU", async () => {
  const broker = await startTestBroker();
  try {
    const dir = await makeOutTempDir("bench-small");
    const config = await writeTestConfig(dir, broker.bootstrap);
    const settings = await loadKafkaConfig(`${ROOT}${config}`);
    const admin = await connectAdmin(createKafka(settings), settings);
    const topicsBefore = await admin.listTopics();
    const result = await runTask("bench", [
      ...["--config", config, "--out_dir", dir, "--rounds", "1"],
      ...["--sizes_mb", "1,2", "--chunk_sizes", "16384"],
      ...["--small_files", "30", "--small_kb", "3", "--idle_seconds", "1"],
      ...["--warmup_mb", "0"],
    ]);
    deepStrictEqual(result.code, 0, result.stderr);
    ok(!result.stdout.includes("warm-up"), "--warmup_mb 0: none");
    match(
      result.stdout,
      /peak RSS, 1 MiB -> 2 MiB: upload 16 KiB \d+ -> \d+ MB/,
    );
    match(
      result.stdout,
      /peak RSS, 1 MiB -> 2 MiB: rebuild 16 KiB \d+ -> \d+ MB/,
    );
    match(result.stdout, /30 files of 3072 B, one run:/);
    match(result.stdout, /all SHA-512 identical/);
    match(
      result.stdout,
      /folder watcher idle 1 s, 1000 old files: [\d.]+ CPU s/,
    );
    const results = JSON.parse(
      await Deno.readTextFile(`${ROOT}${dir}/results.json`),
    );
    deepStrictEqual(results.memory.length, 2);
    const small: SmallFilesRun[] = results.smallFiles;
    deepStrictEqual(small.map((r) => [r.direction, r.files, r.fileBytes]), [
      ["produce", 30, 3072],
      ["consume", 30, 3072],
    ]);
    deepStrictEqual(small[1].identical, true);
    for (const r of small) {
      ok(r.filesPerSecond > 0 && r.peakRssMb > 0, r.direction);
      deepStrictEqual(r.secondsPer1000.length, 10);
      ok(r.secondsPer1000.every((s) => s >= 0), r.direction);
    }
    const idle: WatcherIdle = results.watcherIdle;
    deepStrictEqual([idle.seconds, idle.oldFiles, idle.polling], [
      1,
      1000,
      false,
    ]);
    ok(idle.cpuSeconds >= 0 && idle.peakRssMb > 0);
    // Topics, the rebuilt folder and the watched folder are gone; the files stay for the next run.
    const left = (await admin.listTopics()).filter((t) =>
      t.startsWith("bench_") && !topicsBefore.includes(t)
    );
    await admin.disconnect();
    deepStrictEqual(left, []);
    const entries = [];
    for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
      entries.push(entry.name);
    }
    ok(entries.includes("small_30x3072B"), entries.join(" "));
    ok(
      !entries.some((name) =>
        name.startsWith("rebuilt_") || name.startsWith("idle-")
      ),
      entries.join(" "),
    );
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  } finally {
    await broker.stop();
  }
});

Deno.test("bench refuses a bad --rounds, a SASL config for --peers and an encrypted config without its node, in one line", async () => {
  const dir = await makeOutTempDir("bench-usage");
  const rounds = await runTask("bench", ["--rounds", "0"]);
  deepStrictEqual(rounds.code, 2);
  match(rounds.stderr, /positive whole numbers/);
  const members = await runTask("bench", ["--members", "1,0"]);
  deepStrictEqual(members.code, 2);
  match(members.stderr, /--members takes positive whole numbers/);
  const small = await runTask("bench", ["--small_kb", "17"]);
  deepStrictEqual(small.code, 2);
  match(small.stderr, /--small_kb must be at most 16/);
  const sasl = `${dir}/sasl.config`;
  await Deno.writeTextFile(
    `${ROOT}${sasl}`,
    "[cluster]\nbootstrap.servers = 127.0.0.1:1\nsecurity.protocol = SASL_SSL\nsasl.mechanism = PLAIN\nsasl.username = u\nsasl.password = p\n",
  );
  const peers = await runTask("bench", ["--peers", "--config", sasl]);
  deepStrictEqual(peers.code, 2);
  match(peers.stderr, /PLAINTEXT only/);
  deepStrictEqual(peers.stderr.trim().split("\n").length, 1);
  // An encrypted config whose node was never provisioned: said before any run.
  const encrypted = `${dir}/encrypted.config`;
  await Deno.writeTextFile(
    `${ROOT}${encrypted}`,
    "[cluster]\nbootstrap.servers = 127.0.0.1:1\n[kafkacrypto]\nnode_id = never_provisioned\n",
  );
  const node = await runTask("bench", ["--encrypted_config", encrypted]);
  deepStrictEqual(node.code, 1);
  match(node.stderr, /node never_provisioned: no node config found/);
  deepStrictEqual(node.stderr.trim().split("\n").length, 1);
  await Deno.remove(`${ROOT}${dir}`, { recursive: true });
});
