/**
 * What the benchmark shows: one progress line per run while it goes on, and
 * at the end the table(s) to print, with out/bench/results.json and
 * out/bench/throughput.svg written beside them.
 *
 * @example
 * ```ts
 * import { progressLine } from "./bench_report.ts";
 *
 * console.log(progressLine({
 *   tool: "project", direction: "produce", recordSize: 16384, sizeMb: 256,
 *   round: 1, mbPerSecond: 40, seconds: 6.7, peakRssMb: 150, cpuPercent: 95,
 * }));
 * ```
 *
 * @module
 */
import {
  type BenchRun,
  clientFloors,
  encryptionCosts,
  formatMemory,
  formatTable,
  javaRatios,
  memoryFlatness,
  summarize,
} from "./bench_results.ts";
import { formatSmallFiles, type SmallFilesRun } from "./small_files.ts";
import { throughputSvg } from "./throughput_chart.ts";
import { idleLine, type WatcherIdle } from "./watcher_idle.ts";

/** The figures beside the big files' table, when they were measured. */
export interface OtherFigures {
  /** The small-files runs (upload, then rebuild). */
  smallFiles?: SmallFilesRun[];
  /** The idle folder watcher. */
  watcherIdle?: WatcherIdle;
}

/**
 * One line per run while the benchmark goes on.
 *
 * @example
 * ```ts
 * import { progressLine } from "./bench_report.ts";
 *
 * const line = progressLine({
 *   tool: "java", direction: "consume", recordSize: 16384, sizeMb: 256,
 *   round: 2, mbPerSecond: 90, seconds: 3, peakRssMb: 200, cpuPercent: 110,
 * });
 * ```
 */
export function progressLine(run: BenchRun): string {
  const sha = run.identical === undefined
    ? ""
    : run.identical
    ? ", SHA-512 identical"
    : ", SHA-512 DIFFERENT";
  const waited = run.pageCacheSlow
    ? ` (the page cache still slow after ${run.waitedSeconds} s)`
    : run.waitedSeconds !== undefined
    ? ` (after ${run.waitedSeconds} s for the page cache)`
    : "";
  return `  round ${run.round}: ${run.tool} ${run.direction} ${run.recordSize} B: ${run.mbPerSecond} MB/s, ` +
    `peak RSS ${run.peakRssMb} MB, CPU ${run.cpuPercent}%${sha}${waited}`;
}

/**
 * Writes results.json and throughput.svg (of the last file size) into `dir`;
 * returns the table(s) to print, one per file size, then whether the
 * project's peak memory stayed flat from the smallest to the largest file,
 * and the `other` figures (small files, idle watcher).
 *
 * @example
 * ```ts
 * import { writeReport } from "./bench_report.ts";
 *
 * const runs = [{
 *   tool: "project" as const, direction: "produce" as const, recordSize: 16384,
 *   sizeMb: 64, round: 1, mbPerSecond: 40, seconds: 1.6, peakRssMb: 150, cpuPercent: 95,
 * }];
 * const dir = await Deno.makeTempDir();
 * console.log(await writeReport(dir, runs, [64], 1));
 * ```
 */
export async function writeReport(
  dir: string,
  runs: BenchRun[],
  sizes: number[],
  rounds: number,
  javaVersion?: string,
  other: OtherFigures = {},
): Promise<string> {
  const tables = [];
  const machine = `${navigator.hardwareConcurrency} cores, ${Deno.build.os}`;
  const summaries = sizes.map((sizeMb) => {
    const rows = summarize(runs.filter((run) => run.sizeMb === sizeMb));
    const ratios = javaRatios(rows);
    tables.push(
      `\n${sizeMb} MiB, ${rounds} run(s) each:\n${formatTable(rows, ratios)}`,
      ...encryptionCosts(rows).map((line) => `\n${line}`),
      ...clientFloors(rows).map((line, i) => i === 0 ? `\n${line}` : line),
    );
    return { sizeMb, rows, ratios };
  });
  const memory = memoryFlatness(runs);
  if (memory.length) tables.push(`\n${formatMemory(memory)}`);
  if (other.smallFiles?.length) {
    const [{ files, fileBytes }] = other.smallFiles;
    tables.push(
      `\n${files} files of ${fileBytes} B, one run:\n${
        formatSmallFiles(other.smallFiles)
      }`,
    );
  }
  if (other.watcherIdle) tables.push(`\n${idleLine(other.watcherIdle)}`);
  const last = summaries.at(-1)!;
  const kafka = javaVersion ? `, Kafka tools ${javaVersion}` : "";
  await Deno.writeTextFile(
    `${dir}/throughput.svg`,
    throughputSvg(last.rows, last.ratios, {
      title: "Upload and rebuild through one local Kafka broker, MB/s",
      subtitle:
        `${last.sizeMb} MiB, ${rounds} run(s) each, ${machine}${kafka}, ${
          new Date().toISOString().slice(0, 16).replace("T", " ")
        } UTC`,
    }),
  );
  await Deno.writeTextFile(
    `${dir}/results.json`,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine,
        kafkaTools: javaVersion,
        rounds,
        runs,
        summaries,
        memory,
        smallFiles: other.smallFiles,
        watcherIdle: other.watcherIdle,
      },
      null,
      2,
    ) + "\n",
  );
  tables.push(
    `\nWrote ${dir}/results.json and ${dir}/throughput.svg (${last.sizeMb} MiB).`,
  );
  return tables.join("\n");
}
