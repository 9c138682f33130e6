/**
 * process_data_files measured: many small files (files per second) and one
 * big file (peak memory, the file above `--max_file_mb` so it is handed to
 * the processor as a path and read as a stream).
 *
 * Each case makes its files, uploads them to a fresh topic, then runs
 * process_data_files under GNU time with the sha512_check processor (which
 * hashes every file again) until its registry lists every file as
 * processed. Files per second are counted between the first and the last
 * file recorded (start-up and joining the group left out); the run's wall
 * time is given too.
 *
 * @example
 * ```ts
 * import { benchProcessor } from "./processor_runs.ts";
 *
 * const run = await benchProcessor({
 *   config: "local", workDir: "out/bench/process", files: 1000, fileBytes: 10240, maxFileMb: 64,
 * }, console.log);
 * console.log(run.filesPerSecond, run.peakRssMb);
 * ```
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { finishMeasuredReport, spawnMeasuredTask } from "./process_stats.ts";
import { writeRandomFile } from "./random_file.ts";

/** The processor measured: it hashes each file again. */
export const BENCH_PROCESSOR = "scripts/processors/sha512_check.ts";
/** How often the registry is counted, ms. */
const POLL_MS = 250;
/** A run that has not finished after this long has failed. */
const GIVE_UP_MS = 30 * 60_000;

/** One case to measure. */
export interface ProcessorPlan {
  /** The project's `--config`. */
  config: string;
  /** Files, topic name prefix and working folder go under this folder. */
  workDir: string;
  /** How many files. */
  files: number;
  /** Bytes per file. */
  fileBytes: number;
  /** process_data_files' `--max_file_mb`. */
  maxFileMb: number;
}

/** What one case measured. */
export interface ProcessorRun {
  /** Files processed. */
  files: number;
  /** Bytes per file. */
  fileBytes: number;
  /** From the first file recorded to the last, seconds (0 for one file). */
  processingSeconds: number;
  /** Files per second over `processingSeconds` (one file: over the whole run). */
  filesPerSecond: number;
  /** MB (10^6 B) per second over the same time. */
  mbPerSecond: number;
  /** The whole run, start-up and joining included, to the last file. */
  wallSeconds: number;
  /** Peak resident memory of process_data_files (Worker included), MB. */
  peakRssMb: number;
}

/** Rows recorded as processed, first and last time (ms); throws if one failed. */
function registryCount(
  path: string,
): { n: number; first: number; last: number } {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { readOnly: true });
    const row = db.prepare(
      `SELECT count(*) AS n, min(recorded_at) AS first, max(recorded_at) AS last
       FROM files WHERE outcome = 'processed'`,
    ).get() as { n: number; first: string | null; last: string | null };
    const failed = db.prepare(
      "SELECT relative_path AS name, reason FROM files WHERE outcome = 'failed'",
    ).get() as { name: string; reason: string } | undefined;
    if (failed) {
      throw new Error(`${failed.name} failed its check: ${failed.reason}`);
    }
    return {
      n: row.n,
      first: Date.parse(row.first ?? ""),
      last: Date.parse(row.last ?? ""),
    };
  } catch (error) {
    if (String(error).includes("failed its check")) throw error;
    return { n: 0, first: NaN, last: NaN }; // Not made yet.
  } finally {
    db?.close();
  }
}

/**
 * Makes the files, uploads them, and measures process_data_files processing
 * them all; `say` gets a line per step.
 */
export async function benchProcessor(
  plan: ProcessorPlan,
  say: (line: string) => void,
): Promise<ProcessorRun> {
  const id = crypto.randomUUID().slice(0, 8);
  const source = `${plan.workDir}/source-${plan.files}x${plan.fileBytes}`;
  await Deno.mkdir(source, { recursive: true });
  for (let i = 0; i < plan.files; i++) {
    await writeRandomFile(`${source}/f${i}.bin`, plan.fileBytes, {
      reuse: true,
    });
  }
  const topic = `bench_process_${id}`;
  say(`uploading ${plan.files} file(s) of ${plan.fileBytes} B to ${topic}`);
  await finishMeasuredReport(
    await spawnMeasuredTask("upload_data_file", [
      "--config",
      plan.config,
      "--topic_name",
      topic,
      source,
    ]),
  );
  const workingDir = `${plan.workDir}/work-${id}`;
  say(`processing them with ${BENCH_PROCESSOR}`);
  const started = Date.now();
  const run = await spawnMeasuredTask("process_data_files", [
    "--config",
    plan.config,
    "--topic_name",
    topic,
    "--working_dir",
    workingDir,
    "--processor",
    BENCH_PROCESSOR,
    "--max_file_mb",
    String(plan.maxFileMb),
    "--update_seconds",
    "-1",
  ]);
  let count = { n: 0, first: NaN, last: NaN };
  try {
    while (count.n < plan.files) {
      if (Date.now() - started > GIVE_UP_MS) throw new Error("gave up waiting");
      await new Promise((r) => setTimeout(r, POLL_MS));
      count = registryCount(`${workingDir}/registry.db`);
    }
  } catch (error) {
    // A file failed (or it took too long): stop the run, then say why.
    await finishMeasuredReport(run, { quit: true }).catch(() => {});
    throw error;
  }
  const wallSeconds = (count.last - started) / 1000;
  const report = await finishMeasuredReport(run, { quit: true });
  await Deno.remove(workingDir, { recursive: true });
  const processingSeconds = (count.last - count.first) / 1000;
  const over = plan.files > 1 ? processingSeconds : wallSeconds;
  return {
    files: plan.files,
    fileBytes: plan.fileBytes,
    processingSeconds,
    filesPerSecond: (plan.files > 1 ? plan.files - 1 : 1) / over,
    mbPerSecond: plan.files * plan.fileBytes / 1e6 / over,
    wallSeconds,
    peakRssMb: Math.round(report.peakRssBytes / 1e6),
  };
}
