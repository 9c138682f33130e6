/**
 * # Benchmark: upload and rebuild big files through Kafka, beside Kafka's own clients
 *
 * ```sh
 * deno task kafka start
 * deno task bench                         # 256 MiB and 1 GiB, chunks of 16 KiB and 512 KiB
 * deno task bench --peers                 # 256 MiB, with Kafka's Java perf tools and kcat
 * deno task bench --peers --sizes_mb 64 --chunk_sizes 16384 --rounds 3
 * deno task bench --members 1,2,3         # rebuild by a consumer group of 1, 2, 3
 * deno task bench --encrypted_config my_encrypted.config   # encryption's cost
 * deno task bench --peers --client         # and the Kafka client alone: the floor
 * deno task bench --sizes_mb 256,4096 --small_files 0 --idle_seconds 0   # memory flat?
 * ```
 *
 * Permissions: `--allow-run` (every measured program runs as its own process
 * under GNU time: upload_data_file, reconstruct_data_files, bench_client,
 * java, kcat),
 * `--allow-read`, `--allow-write=out,.kafka` (test files and results go to
 * out/bench; the Java tools' classpath is cached in .kafka like the broker's),
 * `--allow-net` and `--allow-env` (topics are created and deleted here).
 *
 * For every file size and chunk size it uploads a file of random bytes and
 * rebuilds it (checking the SHA-512), and with `--peers` it runs, interleaved
 * with these, ProducerPerformance and ConsumerPerformance (the broker's own
 * Kafka version) and kcat with records of the chunk size, the same number of
 * bytes, acks=all and the config's batch.size, linger.ms and compression, on
 * topics made exactly like the project's. Every figure is
 * taken `--rounds` times; the order of the tools flips each round so that none
 * always goes first. MB/s count from process start (JVM start-up included) to
 * the last byte; for the rebuild, to the file moved into place.
 *
 * Then `--small_files` (10,000) files of `--small_kb` (10) KiB go up and
 * back once: files/s each way, seconds per 1,000 files over the run (does a
 * file cost more when many went before?), every rebuilt file checked; and the
 * folder watcher is left idle for `--idle_seconds` (30) to read its CPU.
 *
 * With `--client` each round also sends and reads the same records with the
 * Kafka client library alone (bench_client.ts: no file, no hashing), and a
 * line per direction and chunk size says how far each tool is above it.
 *
 * It prints one table (MB/s per run, peak RSS, CPU %) with the project/Java
 * ratios, whether the project's peak RSS stays within 10% from the smallest
 * to the largest `--sizes_mb`, the small files' table and the watcher's idle
 * CPU, and writes out/bench/results.json and out/bench/throughput.svg.
 * Timings are numbers to read, not to assert: on a busy machine they scatter.
 *
 * With `--members 1,2,3` it measures instead how fast a consumer group of
 * 1, 2, 3 reconstructors (each with its own folder, as on several machines)
 * rebuilds 12 files totalling the first `--sizes_mb` (chunks of the first
 * `--chunk_sizes`), with each member's CPU and the local broker's.
 *
 * With `--encrypted_config` the project's tools also run with that config
 * (one with a `[kafkacrypto]` section; the same node uploads and rebuilds,
 * from its kept keys), interleaved with the plain runs, and a line says what
 * encryption costs each way.
 *
 * Before the measured runs, `--warmup_mb` (64) MiB go up and back untimed at
 * each chunk size, so that no tool's figure includes a broker just started.
 * And before each upload and rebuild run it waits until writing 32 MiB to
 * the page cache is back at speed: a virtual machine may still be busy after
 * the run before, and then the next program to write pays several times
 * over (lib/bench/page_cache.ts); the line of a run that waited says so.
 *
 * Try: `--chunk_sizes 65536`, or `--rounds 4` to see how much runs scatter.
 *
 * @module
 */
import { runMain, UsageError } from "../lib/common/cli.ts";
import { readBenchFlags } from "../lib/bench/bench_flags.ts";
import type { BenchRun } from "../lib/bench/bench_results.ts";
import { writeReport } from "../lib/bench/bench_report.ts";
import * as peers from "../lib/bench/peer_tools.ts";
import type { RunPlan } from "../lib/bench/tool_runs.ts";
import { PageCacheSettler } from "../lib/bench/page_cache.ts";
import {
  benchChunkSize,
  benchFile,
  warmUp,
} from "../lib/bench/bench_rounds.ts";
import { groupBench } from "../lib/bench/group_runs.ts";
import { benchSmallFiles } from "../lib/bench/small_files.ts";
import { idleLine, measureWatcherIdle } from "../lib/bench/watcher_idle.ts";
import { DEFAULT_THREADS } from "../lib/kafka/kafka_flags.ts";
import { connectAdmin, createKafka } from "../lib/kafka/client.ts";
import { loadKafkaConfig } from "../lib/kafka/config.ts";
import { findNodeConfig } from "../lib/transfer/transfer_crypto.ts";

/** Old files in the idle watcher's folder (a lab folder is full of them). */
const IDLE_OLD_FILES = 1000;

if (import.meta.main) {
  await runMain("bench", async () => {
    const { flags, sizes, chunkSizes, members } = readBenchFlags(Deno.args);
    const settings = await loadKafkaConfig(flags.config);
    if (flags.peers && (settings.client.ssl || settings.client.sasl)) {
      throw new UsageError(
        "--peers runs the Java tools and kcat over PLAINTEXT only: use a config without SSL/SASL",
      );
    }
    // A missing node is said now, in one line, not after the plain runs.
    if (flags.encrypted_config) {
      const encrypted = await loadKafkaConfig(flags.encrypted_config);
      if (!await findNodeConfig(encrypted)) {
        throw new UsageError(
          `--encrypted_config ${flags.encrypted_config} has no [kafkacrypto] section`,
        );
      }
    }
    const bootstrap = Array.isArray(settings.client.brokers)
      ? settings.client.brokers.join(",")
      : "";
    if (members) {
      await groupBench({
        config: flags.config,
        bootstrap,
        members,
        totalMb: sizes[0],
        chunkSize: chunkSizes[0],
        rounds: flags.rounds,
        workDir: flags.out_dir,
      }, console.log);
      return 0;
    }
    const { tools, java, kcat } = await peers.benchTools(
      flags.peers ?? false,
      console.log,
    );
    // Encryption's cost: the same runs with a [kafkacrypto] config beside.
    if (flags.encrypted_config) tools.splice(1, 0, "encrypted");
    // The floor under the tools: the same records with the client alone.
    if (flags.client) tools.splice(flags.encrypted_config ? 2 : 1, 0, "client");
    const admin = await connectAdmin(createKafka(settings), settings);
    const dir = flags.out_dir;
    await Deno.mkdir(dir, { recursive: true });
    // What every run shares; each size and chunk size adds its file.
    const common = {
      config: flags.config,
      encryptedConfig: flags.encrypted_config,
      bootstrap,
      java,
      kcat,
      producer: settings.producer,
      workDir: dir,
      pageCache: new PageCacheSettler(`${dir}/.page_cache_probe`),
    };
    const runs: BenchRun[] = [];
    try {
      if (flags.warmup_mb > 0) {
        const file = await benchFile(dir, flags.warmup_mb);
        for (const chunkSize of chunkSizes) {
          await warmUp(admin, { ...common, ...file, chunkSize });
        }
      }
      for (const sizeMb of sizes) {
        const file = await benchFile(dir, sizeMb);
        for (const chunkSize of chunkSizes) {
          console.log(`${sizeMb} MiB in records of ${chunkSize} B:`);
          const plan: RunPlan = { ...common, ...file, chunkSize };
          runs.push(...await benchChunkSize(admin, plan, tools, flags.rounds));
        }
      }
    } finally {
      await admin.disconnect();
    }
    const smallFiles = flags.small_files > 0
      ? await benchSmallFiles({
        config: flags.config,
        files: flags.small_files,
        fileBytes: flags.small_kb * 1024,
        partitions: DEFAULT_THREADS,
        workDir: dir,
      }, console.log)
      : undefined;
    const watcherIdle = flags.idle_seconds > 0
      ? await measureWatcherIdle({
        config: flags.config,
        seconds: flags.idle_seconds,
        oldFiles: IDLE_OLD_FILES,
        dir,
      })
      : undefined;
    if (watcherIdle) console.log(idleLine(watcherIdle));
    console.log(
      await writeReport(dir, runs, sizes, flags.rounds, java?.version, {
        smallFiles,
        watcherIdle,
      }),
    );
    const identical = [...runs, ...smallFiles ?? []].every((run) =>
      run.identical !== false
    );
    return identical ? 0 : 1;
  });
}
