/**
 * The benchmark's figures: one record per measured run, summed up per tool,
 * direction and record size, with the project/Java ratios, and printed as one
 * plain-text table.
 *
 * @example
 * ```ts
 * import { formatTable, javaRatios, summarize } from "./bench_results.ts";
 *
 * const rows = summarize([
 *   { tool: "project", direction: "produce", recordSize: 16384, sizeMb: 256, round: 1, mbPerSecond: 40, seconds: 6.7, peakRssMb: 150, cpuPercent: 95 },
 *   { tool: "java", direction: "produce", recordSize: 16384, sizeMb: 256, round: 1, mbPerSecond: 100, seconds: 2.7, peakRssMb: 220, cpuPercent: 120 },
 * ]);
 * console.log(formatTable(rows, javaRatios(rows)));
 * ```
 *
 * @module
 */

/** Who was measured. */
export type Tool = "project" | "encrypted" | "client" | "java" | "kcat";
/** Producing (the project: upload) or consuming (the project: rebuild). */
export type Direction = "produce" | "consume";

/** The tools in the order tables and charts show them. */
export const TOOLS: readonly Tool[] = [
  "project",
  "encrypted",
  "client",
  "java",
  "kcat",
];

/** How tables and charts name each tool and direction. */
export const TOOL_NAMES: Record<Tool, Record<Direction, string>> = {
  project: { produce: "upload_data_file", consume: "reconstruct_data_files" },
  encrypted: {
    produce: "upload_data_file [kafkacrypto]",
    consume: "reconstruct_data_files [kafkacrypto]",
  },
  client: { produce: "bench_client", consume: "bench_client" },
  java: { produce: "ProducerPerformance", consume: "ConsumerPerformance" },
  kcat: { produce: "kcat -P", consume: "kcat -C" },
};

/** One measured run of one tool. */
export interface BenchRun {
  /** Who ran. */
  tool: Tool;
  /** Which way the bytes went. */
  direction: Direction;
  /** Bytes per record (the project's chunk size). */
  recordSize: number;
  /** The size of the file (or of all records together), MiB. */
  sizeMb: number;
  /** 1 for the first round of this figure, 2 for the second, ... */
  round: number;
  /** Bytes moved / wall-clock seconds from process start, in MB (10^6 B) per second. */
  mbPerSecond: number;
  /** Wall-clock seconds from process start to the end of the work. */
  seconds: number;
  /** Peak resident memory of the process, MB. */
  peakRssMb: number;
  /** CPU time / wall time of the process, in percent of one core. */
  cpuPercent: number;
  /**
   * The process's CPU seconds in the kernel (page faults, copies into the
   * page cache and sockets): a round slower than its neighbours shows here
   * whether the machine charged more for the same work.
   */
  systemSeconds?: number;
  /** The Java tools' own figure (their clock starts once the JVM is up). */
  reportedMbPerSecond?: number;
  /** For the project's rebuild: the file came back with the same SHA-512. */
  identical?: boolean;
  /**
   * The time of the bench's last write of 32 MiB to the page cache before
   * the run, ms (bench/page_cache.ts).
   */
  pageCacheMs?: number;
  /** Seconds it waited for such writes to be back at speed, if it did. */
  waitedSeconds?: number;
  /** True when they were still slow after the longest wait. */
  pageCacheSlow?: boolean;
}

/** The runs of one tool, direction and record size. */
export interface SummaryRow {
  /** Who ran. */
  tool: Tool;
  /** Which way the bytes went. */
  direction: Direction;
  /** Bytes per record. */
  recordSize: number;
  /** MB/s of each run, in run order. */
  mbPerSecond: number[];
  /** The Java tools' own figures, in run order (empty for the others). */
  reportedMbPerSecond: number[];
  /** Mean of `mbPerSecond`. */
  meanMbPerSecond: number;
  /** The largest peak RSS of the runs, MB. */
  peakRssMb: number;
  /** Mean CPU percent of the runs. */
  cpuPercent: number;
}

/** The project's mean over Java's mean for one direction and record size. */
export interface Ratio {
  /** Which way the bytes went. */
  direction: Direction;
  /** Bytes per record. */
  recordSize: number;
  /** project MB/s / Java MB/s, both by wall clock from process start. */
  wallClock: number;
  /** project MB/s / Java's own reported MB/s (which leaves out the JVM's start). */
  javaOwnClock?: number;
}

/** Arithmetic mean (0 for none). */
function mean(values: number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;
}

/**
 * Groups runs by direction, record size and tool, in that display order
 * (runs of several file sizes: summarize each size's runs on their own).
 *
 * @example
 * ```ts
 * const rows = summarize([
 *   { tool: "project", direction: "produce", recordSize: 16384, sizeMb: 64, round: 1, mbPerSecond: 40, seconds: 1.7, peakRssMb: 150, cpuPercent: 95 },
 * ]);
 * ```
 */
export function summarize(runs: BenchRun[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const sizes = [...new Set(runs.map((run) => run.recordSize))].sort((a, b) =>
    a - b
  );
  for (const direction of ["produce", "consume"] as const) {
    for (const recordSize of sizes) {
      for (const tool of TOOLS) {
        const mine = runs.filter((run) =>
          run.tool === tool && run.direction === direction &&
          run.recordSize === recordSize
        );
        if (mine.length === 0) continue;
        const mbPerSecond = mine.map((run) => run.mbPerSecond);
        rows.push({
          tool,
          direction,
          recordSize,
          mbPerSecond,
          reportedMbPerSecond: mine.flatMap((run) =>
            run.reportedMbPerSecond === undefined
              ? []
              : [run.reportedMbPerSecond]
          ),
          meanMbPerSecond: mean(mbPerSecond),
          peakRssMb: Math.max(...mine.map((run) => run.peakRssMb)),
          cpuPercent: mean(mine.map((run) => run.cpuPercent)),
        });
      }
    }
  }
  return rows;
}

/**
 * Each of the project's rows beside the row of `other` for the same direction
 * and record size, where both ran.
 */
function besideProject(
  rows: SummaryRow[],
  other: Tool,
): [SummaryRow, SummaryRow][] {
  return rows.filter((row) => row.tool === "project").flatMap((project) => {
    const match = rows.find((row) =>
      row.tool === other && row.direction === project.direction &&
      row.recordSize === project.recordSize
    );
    return match ? [[project, match] as [SummaryRow, SummaryRow]] : [];
  });
}

/**
 * project/Java throughput ratios, where both ran.
 *
 * @example
 * ```ts
 * const rows = summarize([
 *   { tool: "project", direction: "produce", recordSize: 16384, sizeMb: 64, round: 1, mbPerSecond: 40, seconds: 1.7, peakRssMb: 150, cpuPercent: 95 },
 * ]);
 * javaRatios(rows); // [] (no Java run); else [{ direction, recordSize, wallClock, ... }]
 * ```
 */
export function javaRatios(rows: SummaryRow[]): Ratio[] {
  const ratios: Ratio[] = [];
  for (const [project, java] of besideProject(rows, "java")) {
    const own = mean(java.reportedMbPerSecond);
    ratios.push({
      direction: project.direction,
      recordSize: project.recordSize,
      wallClock: project.meanMbPerSecond / java.meanMbPerSecond,
      javaOwnClock: own ? project.meanMbPerSecond / own : undefined,
    });
  }
  return ratios;
}

/**
 * One line per direction and record size where both ran: what encryption
 * costs, the encrypted mean MB/s against the plain one.
 *
 * @example
 * ```ts
 * const rows = summarize([
 *   { tool: "project", direction: "produce", recordSize: 524288, sizeMb: 64, round: 1, mbPerSecond: 80, seconds: 0.8, peakRssMb: 150, cpuPercent: 95 },
 *   { tool: "encrypted", direction: "produce", recordSize: 524288, sizeMb: 64, round: 1, mbPerSecond: 70, seconds: 0.9, peakRssMb: 150, cpuPercent: 95 },
 * ]);
 * encryptionCosts(rows); // ["encryption costs upload 12.5% at 512 KiB (70.0 vs 80.0 MB/s)"]
 * ```
 */
export function encryptionCosts(rows: SummaryRow[]): string[] {
  const lines: string[] = [];
  for (const [plain, encrypted] of besideProject(rows, "encrypted")) {
    const cost = 1 - encrypted.meanMbPerSecond / plain.meanMbPerSecond;
    const what = plain.direction === "produce" ? "upload" : "rebuild";
    lines.push(
      `encryption costs ${what} ${(cost * 100).toFixed(1)}% at ${
        sizeLabel(plain.recordSize)
      } (${encrypted.meanMbPerSecond.toFixed(1)} vs ${
        plain.meanMbPerSecond.toFixed(1)
      } MB/s)`,
    );
  }
  return lines;
}

/**
 * One line per direction and record size where both ran: how far the
 * project's tool is above the Kafka client alone (bench_client), in peak
 * memory and in speed. What the client alone needs, no tool on it can go
 * below; the difference is the tool's own work (files, hashes, checks).
 *
 * @example
 * ```ts
 * const rows = summarize([
 *   { tool: "project", direction: "consume", recordSize: 16384, sizeMb: 64, round: 1, mbPerSecond: 150, seconds: 0.45, peakRssMb: 210, cpuPercent: 120 },
 *   { tool: "client", direction: "consume", recordSize: 16384, sizeMb: 64, round: 1, mbPerSecond: 300, seconds: 0.22, peakRssMb: 178, cpuPercent: 90 },
 * ]);
 * clientFloors(rows); // ["rebuild 16 KiB over the client alone: peak RSS 210 vs 178 MB (+32), 0.50x its MB/s (150.0 vs 300.0)"]
 * ```
 */
export function clientFloors(rows: SummaryRow[]): string[] {
  return besideProject(rows, "client").map(([project, client]) => {
    const what = project.direction === "produce" ? "upload" : "rebuild";
    const extra = project.peakRssMb - client.peakRssMb;
    return `${what} ${sizeLabel(project.recordSize)} over the client alone: ` +
      `peak RSS ${project.peakRssMb} vs ${client.peakRssMb} MB (${
        extra >= 0 ? "+" : ""
      }${extra}), ${
        (project.meanMbPerSecond / client.meanMbPerSecond).toFixed(2)
      }x its MB/s (${project.meanMbPerSecond.toFixed(1)} vs ${
        client.meanMbPerSecond.toFixed(1)
      })`;
  });
}

/**
 * A record size the way people say it: `16 KiB`, `512 KiB`, `1 MiB`.
 *
 * @example
 * ```ts
 * sizeLabel(524288); // "512 KiB"
 * ```
 */
export function sizeLabel(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/**
 * Pads every column of `cells` to its widest cell; the first three (names)
 * to the left, the others (numbers) to the right.
 *
 * @example
 * ```ts
 * alignColumns([["tool", "dir", "size", "MB/s"], ["kcat -P", "produce", "16 KiB", "200.0"]]);
 * ```
 */
export function alignColumns(cells: string[][]): string {
  const widths = cells[0].map((_, column) =>
    Math.max(...cells.map((row) => row[column].length))
  );
  return cells.map((row) =>
    row.map((cell, column) =>
      column >= 3 ? cell.padStart(widths[column]) : cell.padEnd(widths[column])
    ).join("  ").trimEnd()
  ).join("\n");
}

/**
 * The table the benchmark prints: one line per tool, direction and record
 * size, then the project/Java ratios.
 *
 * @example
 * ```ts
 * const rows = summarize([
 *   { tool: "project", direction: "produce", recordSize: 16384, sizeMb: 64, round: 1, mbPerSecond: 40, seconds: 1.7, peakRssMb: 150, cpuPercent: 95 },
 * ]);
 * console.log(formatTable(rows, javaRatios(rows)));
 * ```
 */
export function formatTable(rows: SummaryRow[], ratios: Ratio[]): string {
  const cells = [[
    "tool",
    "direction",
    "record",
    "MB/s per run",
    "mean",
    "peak RSS MB",
    "CPU %",
  ]];
  for (const row of rows) {
    cells.push([
      TOOL_NAMES[row.tool][row.direction],
      row.direction === "produce" ? "produce" : "consume",
      sizeLabel(row.recordSize),
      row.mbPerSecond.map((value) => value.toFixed(1)).join(", "),
      row.meanMbPerSecond.toFixed(1),
      String(row.peakRssMb),
      row.cpuPercent.toFixed(0),
    ]);
  }
  const lines = [alignColumns(cells), ""];
  for (const ratio of ratios) {
    const what = ratio.direction === "produce" ? "upload" : "rebuild";
    const own = ratio.javaOwnClock === undefined
      ? ""
      : ` (${ratio.javaOwnClock.toFixed(2)} against Java's own timer)`;
    lines.push(
      `${what} ${sizeLabel(ratio.recordSize)}: project/Java ${
        ratio.wallClock.toFixed(2)
      }${own}`,
    );
  }
  return lines.join("\n").trimEnd();
}

/** How much the peak RSS may change from the smallest to the largest file. */
export const MEMORY_FLAT_LIMIT = 0.1;

/** The project's peak RSS for one direction and chunk size at two file sizes. */
export interface MemoryCheck {
  /** Which way the bytes went. */
  direction: Direction;
  /** Bytes per chunk. */
  recordSize: number;
  /** The smallest file, MiB. */
  smallMb: number;
  /** The largest file, MiB. */
  largeMb: number;
  /** The largest peak RSS of the runs with the smallest file, MB. */
  smallPeakRssMb: number;
  /** The largest peak RSS of the runs with the largest file, MB. */
  largePeakRssMb: number;
  /** (large - small) / small. */
  change: number;
  /** |change| within {@linkcode MEMORY_FLAT_LIMIT}. */
  flat: boolean;
}

/**
 * Whether the project's peak memory stays flat in the file size: for each
 * direction and chunk size, its peak RSS with the smallest file against the
 * largest (empty with a single file size).
 *
 * @example
 * ```ts
 * const checks = memoryFlatness([
 *   { tool: "project", direction: "produce", recordSize: 16384, sizeMb: 256, round: 1, mbPerSecond: 40, seconds: 6.7, peakRssMb: 150, cpuPercent: 95 },
 *   { tool: "project", direction: "produce", recordSize: 16384, sizeMb: 4096, round: 1, mbPerSecond: 40, seconds: 107, peakRssMb: 160, cpuPercent: 95 },
 * ]);
 * // [{ direction: "produce", recordSize: 16384, smallMb: 256, largeMb: 4096, ..., change: 0.067, flat: true }]
 * ```
 */
export function memoryFlatness(runs: BenchRun[]): MemoryCheck[] {
  const mine = runs.filter((run) => run.tool === "project");
  const sizes = mine.map((run) => run.sizeMb);
  const [smallMb, largeMb] = [Math.min(...sizes), Math.max(...sizes)];
  if (!(largeMb > smallMb)) return [];
  const peak = (sizeMb: number, row: SummaryRow) =>
    Math.max(
      ...mine.filter((run) =>
        run.sizeMb === sizeMb && run.direction === row.direction &&
        run.recordSize === row.recordSize
      ).map((run) => run.peakRssMb),
    );
  return summarize(mine).flatMap((row) => {
    const [small, large] = [peak(smallMb, row), peak(largeMb, row)];
    if (!(small > 0 && large > 0)) return [];
    const change = (large - small) / small;
    return [{
      direction: row.direction,
      recordSize: row.recordSize,
      smallMb,
      largeMb,
      smallPeakRssMb: small,
      largePeakRssMb: large,
      change: Number(change.toFixed(3)),
      flat: Math.abs(change) <= MEMORY_FLAT_LIMIT,
    }];
  });
}

/**
 * One line per {@linkcode MemoryCheck}: both peaks, the change, the verdict.
 *
 * @example
 * ```ts
 * formatMemory([{ direction: "consume", recordSize: 524288, smallMb: 256, largeMb: 4096,
 *   smallPeakRssMb: 190, largePeakRssMb: 195, change: 0.026, flat: true }]);
 * // "peak RSS, 256 MiB -> 4096 MiB: rebuild 512 KiB 190 -> 195 MB (+2.6%): within 10%"
 * ```
 */
export function formatMemory(checks: MemoryCheck[]): string {
  return checks.map((check) => {
    const what = check.direction === "produce" ? "upload" : "rebuild";
    const sign = check.change >= 0 ? "+" : "";
    return `peak RSS, ${check.smallMb} MiB -> ${check.largeMb} MiB: ${what} ${
      sizeLabel(check.recordSize)
    } ${check.smallPeakRssMb} -> ${check.largePeakRssMb} MB (${sign}${
      (check.change * 100).toFixed(1)
    }%): ${check.flat ? "within" : "NOT within"} ${MEMORY_FLAT_LIMIT * 100}%`;
  }).join("\n");
}
