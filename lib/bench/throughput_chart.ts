/**
 * The benchmark's chart: a plain SVG file with two panels, upload (produce)
 * and rebuild (consume), each with one group of bars per record size and one
 * bar per tool (its mean MB/s, written on top), a dot for every run, and the
 * project/Java ratio under each group. Each panel has its own scale, since
 * consuming runs several times faster than producing.
 *
 * No chart library: SVG is text, and a bar chart is a few rectangles.
 *
 * @example
 * ```ts
 * import { throughputSvg } from "./throughput_chart.ts";
 * import { javaRatios, summarize } from "./bench_results.ts";
 *
 * const rows = summarize([]);
 * const svg = throughputSvg(rows, javaRatios(rows), {
 *   title: "Throughput",
 *   subtitle: "64 MiB file",
 * });
 * ```
 *
 * @module
 */
import {
  type Direction,
  type Ratio,
  sizeLabel,
  type SummaryRow,
  type Tool,
  TOOL_NAMES,
  TOOLS,
} from "./bench_results.ts";

const WIDTH = 960;
const HEIGHT = 500;
/** Plot area of each panel, top and bottom. */
const PLOT_TOP = 130;
const PLOT_BOTTOM = 420;
/** Left edge and width of each panel's plot area. */
const PANELS: Record<Direction, { left: number; width: number }> = {
  produce: { left: 70, width: 390 },
  consume: { left: 550, width: 390 },
};
const PANEL_TITLES: Record<Direction, string> = {
  produce: "upload / produce",
  consume: "rebuild / consume",
};
/** Colour-blind-safe colours (ColorBrewer Dark2). */
const COLORS: Record<Tool, string> = {
  project: "#d95f02",
  encrypted: "#e7298a",
  client: "#a6761d",
  java: "#1b9e77",
  kcat: "#7570b3",
};
const LEGEND_NAMES: Record<Tool, string> = {
  project: "this project",
  encrypted: "this project, encrypted",
  client: "the client alone (@platformatic/kafka)",
  java: "Kafka's Java perf tools",
  kcat: "kcat (librdkafka)",
};

/** Titles above the chart. */
export interface ChartText {
  /** First line, large. */
  title: string;
  /** Second line: file size, runs, machine. */
  subtitle: string;
}

/** Escapes text for an SVG element. */
function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(
    />/g,
    "&gt;",
  );
}

/** One SVG text element. */
function text(
  x: number,
  y: number,
  content: string,
  attributes = "",
): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attributes}>${
    escapeXml(content)
  }</text>`;
}

/** A round axis maximum and tick step above `max` (steps of 1, 2 or 5 x 10^n). */
function niceScale(max: number): { top: number; step: number } {
  const rough = Math.max(max, 1) / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough)!;
  return { top: Math.ceil(max / step) * step || step, step };
}

/** One panel: axis, grid, bars, dots, labels. */
function panel(
  direction: Direction,
  rows: SummaryRow[],
  ratios: Ratio[],
): string[] {
  const { left, width } = PANELS[direction];
  const mine = rows.filter((row) => row.direction === direction);
  const sizes = [...new Set(mine.map((row) => row.recordSize))];
  const tools = TOOLS.filter((tool) => mine.some((row) => row.tool === tool));
  const { top, step } = niceScale(
    Math.max(0, ...mine.flatMap((row) => row.mbPerSecond)) * 1.08,
  );
  const y = (value: number) =>
    PLOT_BOTTOM - (value / top) * (PLOT_BOTTOM - PLOT_TOP);
  const parts = [
    text(
      left + width / 2,
      PLOT_TOP - 22,
      PANEL_TITLES[direction],
      'text-anchor="middle" font-size="16" font-weight="bold"',
    ),
    text(left - 50, PLOT_TOP - 8, "MB/s", 'font-size="12" fill="#555"'),
  ];
  for (let tick = 0; tick <= top + step / 2; tick += step) {
    parts.push(
      `<line x1="${left}" x2="${left + width}" y1="${y(tick).toFixed(1)}" y2="${
        y(tick).toFixed(1)
      }" stroke="${tick === 0 ? "#333" : "#ddd"}"/>`,
      text(
        left - 6,
        y(tick) + 4,
        String(tick),
        'text-anchor="end" font-size="12" fill="#555"',
      ),
    );
  }
  const groupWidth = width / Math.max(sizes.length, 1);
  const barWidth = Math.min(
    56,
    (groupWidth * 0.75) / Math.max(tools.length, 1),
  );
  sizes.forEach((size, group) => {
    const center = left + groupWidth * (group + 0.5);
    const first = center - (barWidth * tools.length) / 2;
    tools.forEach((tool, index) => {
      const row = mine.find((r) => r.tool === tool && r.recordSize === size);
      if (!row) return;
      const x = first + index * barWidth;
      const barTop = y(row.meanMbPerSecond);
      // The label goes above the highest run's dot, not on it.
      const labelY = y(Math.max(row.meanMbPerSecond, ...row.mbPerSecond)) - 8;
      parts.push(
        `<rect x="${(x + 2).toFixed(1)}" y="${barTop.toFixed(1)}" width="${
          (barWidth - 4).toFixed(1)
        }" height="${(PLOT_BOTTOM - barTop).toFixed(1)}" fill="${
          COLORS[tool]
        }"><title>${
          escapeXml(
            `${TOOL_NAMES[tool][direction]}, ${sizeLabel(size)}: ${
              row.mbPerSecond.map((v) => v.toFixed(1)).join(", ")
            } MB/s`,
          )
        }</title></rect>`,
        text(
          x + barWidth / 2,
          labelY,
          row.meanMbPerSecond.toFixed(0),
          'text-anchor="middle" font-size="13" font-weight="bold"',
        ),
      );
      for (const value of row.mbPerSecond) {
        parts.push(
          `<circle cx="${(x + barWidth / 2).toFixed(1)}" cy="${
            y(value).toFixed(1)
          }" r="3" fill="white" stroke="#222" stroke-width="1.2"/>`,
        );
      }
    });
    parts.push(
      text(
        center,
        PLOT_BOTTOM + 20,
        `records of ${sizeLabel(size)}`,
        'text-anchor="middle" font-size="14"',
      ),
    );
    const ratio = ratios.find((r) =>
      r.direction === direction && r.recordSize === size
    );
    if (ratio) {
      parts.push(
        text(
          center,
          PLOT_BOTTOM + 40,
          `project/Java ${ratio.wallClock.toFixed(2)}`,
          `text-anchor="middle" font-size="13" fill="${COLORS.project}"`,
        ),
      );
    }
  });
  return parts;
}

/** The legend row: a colour square and a name per tool present. */
function legend(rows: SummaryRow[]): string[] {
  const parts: string[] = [];
  let x = PANELS.produce.left;
  for (const tool of TOOLS.filter((t) => rows.some((r) => r.tool === t))) {
    parts.push(
      `<rect x="${x}" y="72" width="14" height="14" fill="${COLORS[tool]}"/>`,
      text(x + 20, 84, LEGEND_NAMES[tool], 'font-size="14"'),
    );
    x += 40 + LEGEND_NAMES[tool].length * 8;
  }
  parts.push(
    `<circle cx="${
      x + 7
    }" cy="79" r="3" fill="white" stroke="#222" stroke-width="1.2"/>`,
    text(x + 16, 84, "one run (bar: mean)", 'font-size="14"'),
  );
  return parts;
}

/**
 * The whole chart as an SVG document.
 *
 * @example
 * ```ts
 * import { javaRatios, summarize } from "./bench_results.ts";
 *
 * const rows = summarize([]);
 * const svg = throughputSvg(rows, javaRatios(rows), { title: "MB/s", subtitle: "64 MiB" });
 * await Deno.writeTextFile("out/bench/throughput.svg", svg);
 * ```
 */
export function throughputSvg(
  rows: SummaryRow[],
  ratios: Ratio[],
  chartText: ChartText,
): string {
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    text(
      PANELS.produce.left - 50,
      30,
      chartText.title,
      'font-size="20" font-weight="bold"',
    ),
    text(
      PANELS.produce.left - 50,
      54,
      chartText.subtitle,
      'font-size="13" fill="#555"',
    ),
    ...legend(rows),
    ...panel("produce", rows, ratios),
    ...panel("consume", rows, ratios),
    text(
      WIDTH - 10,
      HEIGHT - 12,
      "MB = 10^6 bytes; wall clock from process start to the last byte",
      'text-anchor="end" font-size="11" fill="#777"',
    ),
    "</svg>",
  ];
  return parts.join("\n") + "\n";
}

export type { Direction, Ratio, SummaryRow, Tool } from "./bench_results.ts";
