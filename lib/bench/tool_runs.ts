/**
 * One measured run of one tool: the project's upload or rebuild, Kafka's Java
 * perf tools, or kcat, each as its own process under GNU time, timed by wall
 * clock from process start to the last byte (for the rebuild: to the file
 * moved into place).
 *
 * The project runs through its `deno task` lines (`upload_data_file`,
 * `reconstruct_data_files`) with the task's permissions; the peers move the
 * same number of bytes in records of the same size.
 *
 * @example
 * ```ts
 * import { produceWith } from "./tool_runs.ts";
 *
 * const run = await produceWith({
 *   config: "local",
 *   bootstrap: "127.0.0.1:9092",
 *   source: "out/bench/data_64MiB.bin",
 *   sourceSha512: "...",
 *   sizeMb: 64,
 *   chunkSize: 16384,
 * }, "project", "bench_topic", 1);
 * console.log(run.mbPerSecond);
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { BenchRun, Direction, Tool } from "./bench_results.ts";
import * as peers from "./peer_tools.ts";
import { ensureTopic, type KafkaAdmin } from "../kafka/client.ts";
import {
  finishMeasuredReport,
  type MeasuredProcess,
  type ProcessReport,
  spawnMeasured,
  spawnMeasuredTask,
} from "./process_stats.ts";
import type { PageCacheSettler } from "./page_cache.ts";

const MIB = 1024 * 1024;
/** How often the rebuilt file is looked for; short against a run of seconds. */
const POLL_MS = 20;

/** What every run of one file size and record size shares. */
export interface RunPlan {
  /** The project's `--config` (name or path). */
  config: string;
  /** The config of the "encrypted" tool (with `[kafkacrypto]`). */
  encryptedConfig?: string;
  /** `host:port` list for the peers (PLAINTEXT). */
  bootstrap: string;
  /** Kafka's Java perf tools, when they take part. */
  java?: peers.JavaTools;
  /** The kcat command, when it takes part. */
  kcat?: string;
  /** The file the project uploads (and kcat's records come from). */
  source: string;
  /** Its SHA-512, hex, to check the rebuilt file against. */
  sourceSha512: string;
  /** Its size, MiB. */
  sizeMb: number;
  /** The project's chunk size = the peers' record size, bytes. */
  chunkSize: number;
  /** The config's producer batching, which the peers' producers get too. */
  producer?: { batchBytes: number; lingerMs: number; compression: string };
  /** Where rebuilt files go for the moment; default `out/bench`. */
  workDir?: string;
  /** Waits before each run for page-cache writes to be back at speed. */
  pageCache?: PageCacheSettler;
}

/**
 * SHA-512 of a file, streamed, hex.
 *
 * @example
 * ```ts
 * const hex = await sha512Hex("out/bench/data_64MiB.bin");
 * ```
 */
export async function sha512Hex(path: string): Promise<string> {
  const hash = createHash("sha512");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * Has the kernel write out every dirty page (`sync`) before a run starts.
 * A run that writes hundreds of MB (the rebuild, the broker's log) leaves
 * them dirty, and a later run that meets their writeback blocks in its
 * writes (see the README's benchmark). Not timed.
 *
 * @example
 * ```ts
 * await writeBackDirtyPages();
 * ```
 */
export async function writeBackDirtyPages(): Promise<void> {
  await new Deno.Command("sync", { stdout: "null", stderr: "null" }).output()
    .catch(() => {}); // No `sync` here: the run starts as before.
}

/**
 * Makes a benchmark topic whose files the broker deletes at once when the
 * topic is deleted (`file.delete.delay.ms` 0), not a minute later, in the
 * middle of the next round's runs.
 *
 * @example
 * ```ts
 * import type { KafkaAdmin } from "../kafka/client.ts";
 * declare const admin: KafkaAdmin;
 *
 * await makeBenchTopic(admin, "bench_project_1", 5);
 * ```
 */
export async function makeBenchTopic(
  admin: KafkaAdmin,
  topic: string,
  partitions: number,
): Promise<void> {
  await ensureTopic(admin, topic, partitions, undefined, {
    "file.delete.delay.ms": "0",
  });
}

/**
 * Deletes benchmark topics (made by {@linkcode makeBenchTopic}) and lets the
 * broker remove their files before the next run starts.
 *
 * @example
 * ```ts
 * import type { KafkaAdmin } from "../kafka/client.ts";
 * declare const admin: KafkaAdmin;
 *
 * await dropBenchTopics(admin, ["bench_project_1"]);
 * ```
 */
export async function dropBenchTopics(
  admin: KafkaAdmin,
  topics: string[],
): Promise<void> {
  await admin.deleteTopics({ topics });
  // The broker removes the files in the background, a moment later.
  await new Promise((resolve) => setTimeout(resolve, DELETE_SETTLE_MS));
  await writeBackDirtyPages();
}

/** One measured run of one tool on `topic` (a produce or a consume). */
export type RunStep = (
  plan: RunPlan,
  tool: Tool,
  topic: string,
  round: number,
) => Promise<BenchRun>;

/**
 * `run`, started only once the machine is ready for it: dirty pages written
 * out, then (with `plan.pageCache`) page-cache writes back at speed. The
 * run's record gets the last probe's time, and the wait when there was one.
 */
function onceReady(run: RunStep): RunStep {
  return async (plan, tool, topic, round) => {
    await writeBackDirtyPages();
    const wait = await plan.pageCache?.settle();
    const measured = await run(plan, tool, topic, round);
    if (!wait) return measured;
    return {
      ...measured,
      pageCacheMs: wait.probesMs.at(-1),
      // Said only when it waited (or gave up): one probe is no wait.
      ...(wait.probesMs.length > 1 || !wait.settled
        ? { waitedSeconds: wait.waitedSeconds }
        : {}),
      ...(wait.settled ? {} : { pageCacheSlow: true }),
    };
  };
}

/**
 * kcat's input for `plan` (its records, one per line), written once per file
 * and record size (and then written out to disk); returns its path. Called
 * before a chunk size's rounds, so that no run meets the writing of it.
 *
 * @example
 * ```ts
 * declare const plan: RunPlan;
 * const input = await kcatInput(plan); // out/bench/data_64MiB.bin.kcat_16384.txt
 * ```
 */
export async function kcatInput(plan: RunPlan): Promise<string> {
  const input = `${plan.source}.kcat_${plan.chunkSize}.txt`;
  if (await peers.writeKcatInput(plan.source, input, plan.chunkSize)) {
    await writeBackDirtyPages();
  }
  return input;
}

/** How long {@linkcode dropBenchTopics} gives the broker to remove files. */
const DELETE_SETTLE_MS = 3000;

/** Waits until `path` has `bytes` bytes; throws if `run` ends first. */
async function waitForFile(
  run: MeasuredProcess,
  path: string,
  bytes: number,
): Promise<void> {
  let ended = false;
  run.finished.then(() => ended = true, () => ended = true);
  while ((await Deno.stat(path).catch(() => undefined))?.size !== bytes) {
    if (ended) {
      const { stderr } = await run.finished;
      throw new Error(`ended before ${path} was rebuilt:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** One run's record, from its wall-clock seconds and GNU time's report. */
function record(
  plan: RunPlan,
  tool: Tool,
  direction: Direction,
  round: number,
  seconds: number,
  report: ProcessReport,
): BenchRun {
  return {
    tool,
    direction,
    recordSize: plan.chunkSize,
    sizeMb: plan.sizeMb,
    round,
    mbPerSecond: Number((plan.sizeMb * MIB / 1e6 / seconds).toFixed(1)),
    seconds: Number(seconds.toFixed(2)),
    peakRssMb: Math.round(report.peakRssBytes / 1e6),
    cpuPercent: Math.round(report.cpuSeconds / report.wallSeconds * 100),
    systemSeconds: Number(report.systemSeconds.toFixed(2)),
  };
}

/**
 * Runs one peer program to its end under GNU time, keeping its stdout for the
 * Java tools' summaries (kcat -C prints every payload: discarded).
 */
async function timedPeer(
  command: string,
  args: string[],
  captureStdout = false,
): Promise<{ seconds: number; report: ProcessReport }> {
  const started = performance.now();
  const run = await spawnMeasured(command, args, { captureStdout });
  const report = await finishMeasuredReport(run);
  return { seconds: (performance.now() - started) / 1000, report };
}

/** Runs one of the Java tools; keeps its own figure beside the wall clock's. */
async function javaRun(
  plan: RunPlan,
  direction: Direction,
  round: number,
  args: string[],
): Promise<BenchRun> {
  const { seconds, report } = await timedPeer("java", args, true);
  const own = direction === "produce"
    ? peers.parseProducerPerformance(report.stdout)
    : peers.parseConsumerPerformance(report.stdout);
  return {
    ...record(plan, "java", direction, round, seconds, report),
    reportedMbPerSecond: Number(own.toFixed(1)),
  };
}

/**
 * Runs bench_client (the Kafka client alone) to its end: it sends, or reads
 * back, as many records as the file makes, with the project's config.
 */
async function clientRun(
  plan: RunPlan,
  direction: Direction,
  topic: string,
  round: number,
  extra: string[] = [],
): Promise<BenchRun> {
  const started = performance.now();
  const run = await spawnMeasuredTask("bench_client", [
    direction,
    ...["--config", plan.config, "--topic_name", topic],
    ...["--records", String(recordCount(plan)), ...extra],
  ]);
  const report = await finishMeasuredReport(run);
  const seconds = (performance.now() - started) / 1000;
  return record(plan, "client", direction, round, seconds, report);
}

/** The project's config for `tool` (the encrypted one for "encrypted"). */
function configOf(plan: RunPlan, tool: Tool): string {
  return tool === "encrypted" ? plan.encryptedConfig! : plan.config;
}

/** The number of records the file makes. */
function recordCount(plan: RunPlan): number {
  return Math.ceil(plan.sizeMb * MIB / plan.chunkSize);
}

/**
 * Sends the file (the peers: as many bytes) to `topic` with one tool.
 *
 * @example
 * ```ts
 * const plan: RunPlan = {
 *   config: "local",
 *   bootstrap: "127.0.0.1:9092",
 *   source: "out/bench/data_64MiB.bin",
 *   sourceSha512: await sha512Hex("out/bench/data_64MiB.bin"),
 *   sizeMb: 64,
 *   chunkSize: 16384,
 * };
 * const run = await produceWith(plan, "project", "bench_project_1", 1);
 * ```
 */
export const produceWith: RunStep = onceReady(produceOnce);

/** {@linkcode produceWith}'s run itself. */
async function produceOnce(
  plan: RunPlan,
  tool: Tool,
  topic: string,
  round: number,
): Promise<BenchRun> {
  const run = {
    bootstrap: plan.bootstrap,
    topic,
    records: recordCount(plan),
    recordSize: plan.chunkSize,
    batchBytes: plan.producer?.batchBytes,
    lingerMs: plan.producer?.lingerMs,
    compression: plan.producer?.compression,
  };
  if (tool === "java") {
    const args = peers.producerPerformanceArgs(plan.java!, run);
    return await javaRun(plan, "produce", round, args);
  }
  if (tool === "kcat") {
    const args = peers.kcatProduceArgs(run, await kcatInput(plan));
    const { seconds, report } = await timedPeer(plan.kcat!, args);
    return record(plan, tool, "produce", round, seconds, report);
  }
  if (tool === "client") {
    return await clientRun(plan, "produce", topic, round, [
      ...["--chunk_size", String(plan.chunkSize)],
    ]);
  }
  const started = performance.now();
  const upload = await spawnMeasuredTask("upload_data_file", [
    ...["--config", configOf(plan, tool), "--topic_name", topic],
    ...["--chunk_size", String(plan.chunkSize), plan.source],
  ]);
  const report = await finishMeasuredReport(upload);
  const seconds = (performance.now() - started) / 1000;
  return record(plan, tool, "produce", round, seconds, report);
}

/**
 * Reads `topic` from the beginning with one tool; the project rebuilds the
 * file and checks its SHA-512 (`identical`).
 *
 * @example
 * ```ts
 * const plan: RunPlan = {
 *   config: "local",
 *   bootstrap: "127.0.0.1:9092",
 *   source: "out/bench/data_64MiB.bin",
 *   sourceSha512: await sha512Hex("out/bench/data_64MiB.bin"),
 *   sizeMb: 64,
 *   chunkSize: 16384,
 * };
 * const run = await consumeWith(plan, "project", "bench_project_1", 1);
 * ```
 */
export const consumeWith: RunStep = onceReady(consumeOnce);

/** {@linkcode consumeWith}'s run itself. */
async function consumeOnce(
  plan: RunPlan,
  tool: Tool,
  topic: string,
  round: number,
): Promise<BenchRun> {
  const run = { bootstrap: plan.bootstrap, topic, records: recordCount(plan) };
  if (tool === "java") {
    const args = peers.consumerPerformanceArgs(plan.java!, run);
    return await javaRun(plan, "consume", round, args);
  }
  if (tool === "kcat") {
    const args = peers.kcatConsumeArgs(run);
    const { seconds, report } = await timedPeer(plan.kcat!, args);
    return record(plan, tool, "consume", round, seconds, report);
  }
  if (tool === "client") return await clientRun(plan, "consume", topic, round);
  // The rebuild counts from start-up (joining the group) until the file is in place.
  const rebuiltDir = `${plan.workDir ?? "out/bench"}/rebuilt_${topic}`;
  const rebuilt = `${rebuiltDir}/${plan.source.split("/").at(-1)}`;
  const started = performance.now();
  const rebuild = await spawnMeasuredTask("reconstruct_data_files", [
    ...["--config", configOf(plan, tool), "--topic_name", topic],
    ...["--update_seconds", "-1", rebuiltDir],
  ]);
  await waitForFile(rebuild, rebuilt, plan.sizeMb * MIB);
  const seconds = (performance.now() - started) / 1000;
  const report = await finishMeasuredReport(rebuild, { quit: true });
  const identical = await sha512Hex(rebuilt) === plan.sourceSha512;
  await Deno.remove(rebuiltDir, { recursive: true });
  return {
    ...record(plan, tool, "consume", round, seconds, report),
    identical,
  };
}

export type { BenchRun, Direction, Tool } from "./bench_results.ts";
export type { JavaTools } from "./peer_tools.ts";
