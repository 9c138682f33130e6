/**
 * Many small files each way: `upload_data_file` on a folder of, by default,
 * 10,000 files of 10 KiB, then `reconstruct_data_files` rebuilding them all,
 * in files per second, with a check that the cost of a file does not grow
 * with the number of files already sent.
 *
 * How the growth is seen, from outside the tools (no log format relied on):
 * - upload: while it runs, the topic's message count is read from the broker
 *   every {@linkcode SAMPLE_MS} ms (its offsets: messages written, which
 *   acks=all acknowledges); each file is one message, so the samples give
 *   when the n-th file was in Kafka (interpolated between samples);
 * - rebuild: each rebuilt file's status-change time (ctime, set when it is
 *   moved into place; its mtime is the original's) says when it was done.
 *
 * The files' completion times, in order, are cut into ten blocks (of 1,000
 * for 10,000 files); each block's seconds per 1,000 files are reported, and
 * a least-squares line through them gives the trend: its last block over its
 * first. A cost per file that grew with the files already sent (a scan of
 * all of them, an index missing) would make that several times 1 over
 * 10,000 files; start-up is left out (the first block starts at the first
 * file done). Every rebuilt file is checked: their number and each SHA-512.
 *
 * @example
 * ```ts
 * import { benchSmallFiles, formatSmallFiles } from "./small_files.ts";
 *
 * const runs = await benchSmallFiles({
 *   config: "local", files: 10000, fileBytes: 10240, partitions: 5, workDir: "out/bench",
 * }, console.log);
 * console.log(formatSmallFiles(runs));
 * ```
 *
 * @module
 */
import type { Direction } from "./bench_results.ts";
import { alignColumns, TOOL_NAMES } from "./bench_results.ts";
import {
  finishMeasuredReport,
  type MeasuredProcess,
  type ProcessReport,
  spawnMeasuredTask,
} from "./process_stats.ts";
import { filesIn } from "./group_runs.ts";
import { writeRandomFile } from "./random_file.ts";
import { sha512Hex } from "./tool_runs.ts";
import {
  connectAdmin,
  countMessages,
  createKafka,
  ensureTopic,
} from "../kafka/client.ts";
import { loadKafkaConfig } from "../kafka/config.ts";

/** The admin client that counts and deletes the topic. */
type Admin = Awaited<ReturnType<typeof connectAdmin>>;

/** How often the upload's topic is counted, ms: short against 1,000 files. */
export const SAMPLE_MS = 100;
/** How often the rebuilt folder is counted (the times come from ctimes). */
const POLL_MS = 500;
/** The completion times are cut into this many blocks. */
const BLOCKS = 10;
/** Files of up to this size are one chunk (one message) each. */
const CHUNK_SIZE = 16384;
/** The trend is "flat" while the fitted line rises less than this, last over first block. */
export const FLAT_LIMIT = 1.2;
/** A rebuild that has not finished after this long has failed. */
const GIVE_UP_MS = 30 * 60_000;

/** What {@linkcode benchSmallFiles} sends. */
export interface SmallFilesPlan {
  /** The project's `--config`. */
  config: string;
  /** How many files. */
  files: number;
  /** Bytes per file (at most 16 KiB: one chunk each). */
  fileBytes: number;
  /** Partitions of the topic (as the project's tools make it). */
  partitions: number;
  /** The files and the rebuilt folder go under this folder. */
  workDir: string;
}

/** One small-files run of one direction. */
export interface SmallFilesRun {
  /** produce = upload_data_file, consume = reconstruct_data_files. */
  direction: Direction;
  /** Files moved. */
  files: number;
  /** Bytes per file. */
  fileBytes: number;
  /** Wall-clock seconds from process start to the last file in Kafka (upload: to the process's end) or in place. */
  seconds: number;
  /** `files` over `seconds`. */
  filesPerSecond: number;
  /** All the files' bytes over `seconds`, MB (10^6 B) per second. */
  mbPerSecond: number;
  /** Seconds per 1,000 files in each of the ten blocks, in order. */
  secondsPer1000: number[];
  /** Least-squares line through `secondsPer1000`: its last block over its first. */
  trend: number;
  /** Peak resident memory of the process, MB. */
  peakRssMb: number;
  /** CPU time / wall time of the process, percent of one core. */
  cpuPercent: number;
  /** For the rebuild: every file there, each with its original's SHA-512. */
  identical?: boolean;
}

/**
 * Seconds per 1,000 files in each of (up to) ten blocks of sorted completion
 * times (seconds). The blocks share their ends: the first runs from the
 * first file done to the 1,000th (of 10,000), the next from there.
 *
 * @example
 * ```ts
 * import { blockSecondsPer1000 } from "./small_files.ts";
 *
 * blockSecondsPer1000([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]); // ten times 1000
 * ```
 */
export function blockSecondsPer1000(times: number[]): number[] {
  const intervals = times.length - 1;
  const blocks = Math.min(BLOCKS, intervals);
  const result: number[] = [];
  for (let k = 0; k < blocks; k++) {
    const from = Math.round(k * intervals / blocks);
    const to = Math.round((k + 1) * intervals / blocks);
    result.push((times[to] - times[from]) / (to - from) * 1000);
  }
  return result;
}

/**
 * The least-squares line through `values` (at 0, 1, 2...): its value at the
 * last point over its value at the first (1 = flat; NaN when not positive).
 *
 * @example
 * ```ts
 * import { fittedTrend } from "./small_files.ts";
 *
 * fittedTrend([1, 1.1, 1.2]); // 1.2
 * ```
 */
export function fittedTrend(values: number[]): number {
  const n = values.length;
  if (n < 2) return 1;
  const meanX = (n - 1) / 2;
  const meanY = values.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  values.forEach((y, x) => {
    sxy += (x - meanX) * (y - meanY);
    sxx += (x - meanX) ** 2;
  });
  const slope = sxy / sxx;
  const first = meanY - slope * meanX;
  const last = meanY + slope * meanX;
  return first > 0 && last > 0 ? last / first : NaN;
}

/**
 * When the 1st, 2nd, ... `count`-th message was in the topic, interpolated
 * between samples of `[seconds, messages so far]` (in time order).
 *
 * @example
 * ```ts
 * import { completionTimes } from "./small_files.ts";
 *
 * completionTimes([[0, 0], [1, 2], [2, 4]], 4); // [0.5, 1, 1.5, 2]
 * ```
 */
export function completionTimes(
  samples: [number, number][],
  count: number,
): number[] {
  const times: number[] = [];
  let j = 0;
  for (let n = 1; n <= count; n++) {
    while (j < samples.length && samples[j][1] < n) j++;
    if (j === samples.length) break;
    const [t1, c1] = samples[j];
    const [t0, c0] = j > 0 ? samples[j - 1] : [t1, c1];
    times.push(c1 === c0 ? t1 : t0 + (t1 - t0) * (n - c0) / (c1 - c0));
  }
  return times;
}

/** The figures of a run from its times and GNU time's report. */
function summarizeRun(
  plan: SmallFilesPlan,
  direction: Direction,
  seconds: number,
  times: number[],
  report: ProcessReport,
): SmallFilesRun {
  const secondsPer1000 = blockSecondsPer1000(times);
  return {
    direction,
    files: plan.files,
    fileBytes: plan.fileBytes,
    seconds: Number(seconds.toFixed(2)),
    filesPerSecond: Number((plan.files / seconds).toFixed(1)),
    mbPerSecond: Number(
      (plan.files * plan.fileBytes / 1e6 / seconds).toFixed(2),
    ),
    secondsPer1000: secondsPer1000.map((s) => Number(s.toFixed(3))),
    trend: Number(fittedTrend(secondsPer1000).toFixed(3)),
    peakRssMb: Math.round(report.peakRssBytes / 1e6),
    cpuPercent: Math.round(report.cpuSeconds / report.wallSeconds * 100),
  };
}

/** Writes the files (kept for the next run when already there); returns name to SHA-512. */
async function writeSmallFiles(
  plan: SmallFilesPlan,
  folder: string,
): Promise<Map<string, string>> {
  await Deno.mkdir(folder, { recursive: true });
  const hashes = new Map<string, string>();
  const digits = String(plan.files - 1).length;
  for (let i = 0; i < plan.files; i++) {
    const name = `f${String(i).padStart(digits, "0")}.bin`;
    await writeRandomFile(`${folder}/${name}`, plan.fileBytes, { reuse: true });
    hashes.set(name, await sha512Hex(`${folder}/${name}`));
  }
  return hashes;
}

/** Waits until the broker can count the fresh topic's messages. */
async function waitForCount(admin: Admin, topic: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (await countMessages(admin, topic).then(() => false, () => true)) {
    if (Date.now() > deadline) throw new Error(`${topic} cannot be counted`);
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
  }
}

/** Uploads the folder, counting the topic's messages as it goes. */
async function uploadFolder(
  admin: Admin,
  plan: SmallFilesPlan,
  folder: string,
  topic: string,
): Promise<SmallFilesRun> {
  await waitForCount(admin, topic);
  const started = performance.now();
  const upload = await spawnMeasuredTask("upload_data_file", [
    ...["--config", plan.config, "--topic_name", topic],
    ...["--chunk_size", String(CHUNK_SIZE), folder],
  ]);
  const samples: [number, number][] = [];
  let ended = false;
  const finished = finishMeasuredReport(upload).finally(() => ended = true);
  while (!ended) {
    const asked = performance.now();
    // A count the broker cannot give yet (leaders still moving in after the
    // topic was made) is one sample fewer, not a failed run.
    const count = await countMessages(admin, topic).catch(() => undefined);
    // The count was taken somewhere during the request: its middle.
    const at = (asked + performance.now()) / 2000;
    if (count !== undefined) samples.push([at, count]);
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
  }
  const report = await finished;
  const seconds = (performance.now() - started) / 1000;
  samples.push([performance.now() / 1000, await countMessages(admin, topic)]);
  const times = completionTimes(samples, plan.files);
  if (times.length !== plan.files) {
    throw new Error(`only ${samples.at(-1)![1]} of ${plan.files} files sent`);
  }
  return summarizeRun(plan, "produce", seconds, times, report);
}

/** Status-change times (seconds since the epoch) of the files in `folder`, sorted. */
async function ctimes(folder: string): Promise<number[]> {
  // Deno.stat rounds ctime to whole seconds; GNU find gives nanoseconds.
  const { stdout } = await new Deno.Command("find", {
    args: [folder, "-maxdepth", "1", "-type", "f", "-printf", "%C@\\n"],
  }).output();
  return new TextDecoder().decode(stdout).trim().split("\n").filter(Boolean)
    .map(Number).sort((a, b) => a - b);
}

/** Waits until `folder` holds `count` files; throws if `run` ends first. */
async function waitForFiles(
  run: MeasuredProcess,
  folder: string,
  count: number,
): Promise<void> {
  let ended = false;
  run.finished.then(() => ended = true, () => ended = true);
  const deadline = Date.now() + GIVE_UP_MS;
  while ((await filesIn(folder)).length < count) {
    if (ended) {
      const { stderr } = await run.finished;
      throw new Error(`ended before ${folder} was rebuilt:\n${stderr}`);
    }
    if (Date.now() > deadline) throw new Error(`${folder} never filled up`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Rebuilds the topic's files into a fresh folder and checks every one. */
async function rebuildFolder(
  plan: SmallFilesPlan,
  topic: string,
  hashes: Map<string, string>,
): Promise<SmallFilesRun> {
  const folder = `${plan.workDir}/rebuilt_${topic}`;
  const startedEpoch = Date.now() / 1000;
  const rebuild = await spawnMeasuredTask("reconstruct_data_files", [
    ...["--config", plan.config, "--topic_name", topic],
    ...["--update_seconds", "-1", folder],
  ]);
  await waitForFiles(rebuild, folder, plan.files);
  const report = await finishMeasuredReport(rebuild, { quit: true });
  const times = await ctimes(folder);
  const names = await filesIn(folder);
  let identical = names.length === hashes.size;
  for (const name of names) {
    identical &&= await sha512Hex(`${folder}/${name}`) === hashes.get(name);
  }
  await Deno.remove(folder, { recursive: true });
  const seconds = times.at(-1)! - startedEpoch;
  return {
    ...summarizeRun(plan, "consume", seconds, times, report),
    identical,
  };
}

/**
 * Writes `files` random files of `fileBytes` (reused when already there),
 * uploads the folder to a fresh topic with `upload_data_file`, rebuilds it
 * with `reconstruct_data_files`, checks every file, deletes the topic.
 * Prints one line per direction; returns both runs.
 *
 * @example
 * ```ts
 * import { benchSmallFiles } from "./small_files.ts";
 *
 * await benchSmallFiles({
 *   config: "local", files: 100, fileBytes: 10240, partitions: 5, workDir: "out/bench",
 * }, console.log);
 * ```
 */
export async function benchSmallFiles(
  plan: SmallFilesPlan,
  print: (line: string) => void,
): Promise<SmallFilesRun[]> {
  const settings = await loadKafkaConfig(plan.config);
  const admin = await connectAdmin(createKafka(settings), settings);
  try {
    return await benchWith(admin, plan, print);
  } finally {
    await admin.disconnect();
  }
}

/** {@linkcode benchSmallFiles} with a connected admin client. */
async function benchWith(
  admin: Admin,
  plan: SmallFilesPlan,
  print: (line: string) => void,
): Promise<SmallFilesRun[]> {
  const folder = `${plan.workDir}/small_${plan.files}x${plan.fileBytes}B`;
  print(`${plan.files} files of ${plan.fileBytes} B:`);
  const hashes = await writeSmallFiles(plan, folder);
  const topic = `bench_small_${plan.files}_${Date.now()}`;
  await ensureTopic(admin, topic, plan.partitions);
  try {
    const upload = await uploadFolder(admin, plan, folder, topic);
    print(`  ${smallFilesLine(upload)}`);
    const rebuild = await rebuildFolder(plan, topic, hashes);
    print(`  ${smallFilesLine(rebuild)}`);
    return [upload, rebuild];
  } finally {
    await admin.deleteTopics({ topics: [topic] });
  }
}

/** "flat (x1.05)" or "RISING (x1.80)": the trend against {@linkcode FLAT_LIMIT}. */
function trendText(trend: number): string {
  return `${trend < FLAT_LIMIT ? "flat" : "RISING"} (x${trend.toFixed(2)})`;
}

/**
 * One run as a progress line.
 *
 * @example
 * ```ts
 * import { smallFilesLine } from "./small_files.ts";
 *
 * smallFilesLine({ direction: "produce", files: 10000, fileBytes: 10240, seconds: 20,
 *   filesPerSecond: 500, mbPerSecond: 5.12, secondsPer1000: [2, 2], trend: 1,
 *   peakRssMb: 120, cpuPercent: 80 });
 * ```
 */
export function smallFilesLine(run: SmallFilesRun): string {
  const sha = run.identical === undefined
    ? ""
    : run.identical
    ? ", all SHA-512 identical"
    : ", FILES MISSING OR DIFFERENT";
  return `${
    TOOL_NAMES.project[run.direction]
  }: ${run.filesPerSecond} files/s (${run.seconds} s), ` +
    `s per 1000 files ${
      run.secondsPer1000.map((s) => s.toFixed(2)).join(" ")
    }: ${
      trendText(run.trend)
    }, peak RSS ${run.peakRssMb} MB, CPU ${run.cpuPercent}%${sha}`;
}

/**
 * The small-files table: files/s, MB/s, seconds per 1,000 files in the first
 * and last block, the trend, peak RSS and CPU, per direction.
 *
 * @example
 * ```ts
 * import { formatSmallFiles } from "./small_files.ts";
 *
 * console.log(formatSmallFiles([{ direction: "produce", files: 10000, fileBytes: 10240,
 *   seconds: 20, filesPerSecond: 500, mbPerSecond: 5.12, secondsPer1000: [2, 2],
 *   trend: 1, peakRssMb: 120, cpuPercent: 80 }]));
 * ```
 */
export function formatSmallFiles(runs: SmallFilesRun[]): string {
  const cells = [[
    "tool",
    "direction",
    "files",
    "files/s",
    "MB/s",
    "s/1000 first, last",
    "trend",
    "peak RSS MB",
    "CPU %",
  ]];
  for (const run of runs) {
    cells.push([
      TOOL_NAMES.project[run.direction],
      run.direction,
      `${run.files} x ${run.fileBytes / 1024} KiB`,
      run.filesPerSecond.toFixed(1),
      run.mbPerSecond.toFixed(2),
      `${run.secondsPer1000[0].toFixed(2)}, ${
        run.secondsPer1000.at(-1)!.toFixed(2)
      }`,
      trendText(run.trend),
      String(run.peakRssMb),
      String(run.cpuPercent),
    ]);
  }
  return alignColumns(cells);
}

export type { Direction } from "./bench_results.ts";
