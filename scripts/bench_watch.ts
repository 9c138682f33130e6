/**
 * # Benchmark: the folder watcher's idle CPU, memory and throughput
 *
 * ```sh
 * deno task kafka start
 * deno task bench_watch                            # 30 s idle, 1,000 files of 64 KiB, one 1 GiB file
 * deno task bench_watch --idle_seconds 10 --big_mb 256
 * ```
 *
 * Permissions: `--allow-run` (it starts the watcher and upload_data_file as
 * separate processes under GNU time, and reads the watcher's CPU time with
 * `cat /proc/PID/stat`, which Deno itself may not read), `--allow-read` and
 * `--allow-write=out` (its folders are in out/bench_watch), `--allow-net` and
 * `--allow-env` (to count the messages on its topics and delete them after).
 *
 * A tool that runs for weeks must cost nothing while nothing happens, and
 * must not grow with what it uploads. This measures, against a running
 * broker:
 *
 * 1. the CPU the watcher uses watching a folder of 1,000 old files where
 *    nothing happens (with events, and with polling);
 * 2. its peak memory and throughput when 1,000 small files arrive, and when
 *    one 1 GiB file arrives;
 * 3. the same data uploaded by one upload_data_file run, for comparison.
 *
 * The watcher's time runs from the moment the files are complete in the
 * folder until Kafka holds every chunk, minus `--settle_seconds` (the wait
 * it makes on purpose); upload_data_file's runs from its start to its end.
 *
 * @module
 */
import { runMain } from "../lib/common/cli.ts";
import { numberFlag, parseFlags } from "../lib/common/flags.ts";
import { CONFIG_FLAG } from "../lib/kafka/kafka_flags.ts";
import {
  connectAdmin,
  createKafka,
  type KafkaAdmin,
  waitForMessages,
} from "../lib/kafka/client.ts";
import { loadKafkaConfig } from "../lib/kafka/config.ts";
import {
  finishMeasured,
  spawnMeasuredTask,
} from "../lib/bench/process_stats.ts";
import { writeRandomFile } from "../lib/bench/random_file.ts";
import {
  idleLine,
  measureWatcherIdle,
  removeWatchedFolder,
  startWatcher,
} from "../lib/bench/watcher_idle.ts";

/** Where the watched folders go. */
const BENCH_DIR = "out/bench_watch";
/** The tools' default chunk size, to know how many messages to expect. */
const CHUNK_SIZE = 16384;
const MIB = 1024 * 1024;
/** Limits of the count flags: whole numbers, at least 1. */
const WHOLE = { integer: true, min: 1 };

/** Drops `count` files of `bytes` each into a watched folder; then uploads the same with upload_data_file. */
async function measureTransfer(
  admin: KafkaAdmin,
  config: string,
  name: string,
  count: number,
  bytes: number,
  settleSeconds: number,
) {
  const folder = `${BENCH_DIR}/${name}`;
  await Deno.mkdir(folder, { recursive: true });
  const topic = `bench_watch_${name}_${Date.now()}`;
  const messages = count * Math.max(1, Math.ceil(bytes / CHUNK_SIZE));
  const listTopics = () => admin.listTopics();
  const watcher = await startWatcher(listTopics, config, topic, folder, [
    "--settle_seconds",
    String(settleSeconds),
  ]);
  for (let i = 0; i < count; i++) {
    await writeRandomFile(`${folder}/file_${i}.bin`, bytes);
  }
  const written = performance.now();
  await waitForMessages(admin, topic, messages);
  const uploaded = performance.now();
  const watchSeconds = (uploaded - written) / 1000 - settleSeconds;
  const watchRssMb = await finishMeasured(watcher, { quit: true });

  const singleTopic = `${topic}_single`;
  const started = performance.now();
  const single = await spawnMeasuredTask("upload_data_file", [
    ...["--config", config, "--topic_name", singleTopic, folder],
  ]);
  const singleRssMb = await finishMeasured(single);
  const singleSeconds = (performance.now() - started) / 1000;
  const mb = (count * bytes) / 1e6;
  return {
    topics: [topic, singleTopic],
    folder,
    watcher: {
      seconds: watchSeconds,
      mbPerSecond: mb / watchSeconds,
      peakRssMb: watchRssMb,
    },
    single: {
      seconds: singleSeconds,
      mbPerSecond: mb / singleSeconds,
      peakRssMb: singleRssMb,
    },
  };
}

if (import.meta.main) {
  await runMain("bench_watch", async () => {
    const { flags } = parseFlags(Deno.args, {
      program: "bench_watch",
      summary:
        "Measure the folder watcher's idle CPU, peak memory and throughput.",
      flags: {
        config: CONFIG_FLAG,
        idle_seconds: numberFlag(30, "how long to watch an idle folder", {
          min: 1,
        }),
        small_files: numberFlag(1000, "how many small files", WHOLE),
        small_kb: numberFlag(64, "KiB per small file", { integer: true }),
        big_mb: numberFlag(1024, "MiB of the big file", WHOLE),
        settle_seconds: numberFlag(1, "the watcher's --settle_seconds"),
      },
    });
    const settings = await loadKafkaConfig(flags.config);
    const admin = await connectAdmin(createKafka(settings), settings);
    const results = [];
    for (const polling of [false, true]) {
      console.log(idleLine(
        await measureWatcherIdle({
          config: flags.config,
          seconds: flags.idle_seconds,
          oldFiles: flags.small_files,
          polling,
          dir: BENCH_DIR,
        }),
      ));
    }
    const transfers = [
      { name: "small", count: flags.small_files, bytes: flags.small_kb * 1024 },
      { name: "big", count: 1, bytes: flags.big_mb * MIB },
    ];
    for (const { name, count, bytes } of transfers) {
      const r = await measureTransfer(
        admin,
        flags.config,
        name,
        count,
        bytes,
        flags.settle_seconds,
      );
      results.push(r);
      console.log(
        `${count} file(s) of ${bytes / 1024} KiB: watcher ${
          r.watcher.mbPerSecond.toFixed(1)
        } MB/s in ${
          r.watcher.seconds.toFixed(1)
        } s (peak RSS ${r.watcher.peakRssMb} MB); ` +
          `upload_data_file ${r.single.mbPerSecond.toFixed(1)} MB/s in ${
            r.single.seconds.toFixed(1)
          } s (peak RSS ${r.single.peakRssMb} MB)`,
      );
    }
    // Give the disk space back: topics, folders and the watcher's records.
    await admin.deleteTopics({ topics: results.flatMap((r) => r.topics) });
    await admin.disconnect();
    for (const { folder } of results) await removeWatchedFolder(folder);
  });
}

// A run prints, for example (local broker, 2 CPU cores, default flags):
//
//   folder watcher idle 30 s, 1000 old files: 0.04 CPU s = 0.13% of a core (target < 0.5%: met), peak RSS 73 MB
//   folder watcher idle 30 s, 1000 old files (polling): 0.28 CPU s = 0.93% of a core (target < 0.5%: MISSED), peak RSS 80 MB
//   1000 file(s) of 64 KiB: watcher 5.3 MB/s in 12.5 s (peak RSS 164 MB); upload_data_file 1.2 MB/s in 55.1 s (peak RSS 184 MB)
//   1 file(s) of 1048576 KiB: watcher 40.5 MB/s in 26.5 s (peak RSS 297 MB); upload_data_file 40.8 MB/s in 26.3 s (peak RSS 285 MB)
