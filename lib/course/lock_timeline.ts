/**
 * The lock timeline of the multiple_processes lesson, drawn: a text chart for
 * the console and an SVG picture with a legend, one lane per process (holding
 * the lock, waiting for it, working without it; committed, retrying, failed)
 * against seconds since the first event. The events come from
 * lib/course/lock_events.ts.
 *
 * @example
 * ```ts
 * import { saveLockTimeline } from "./lock_timeline.ts";
 *
 * const events = [
 *   { process: 1, kind: "lock" as const, pet: "Ace", at: 1000, level: "INFO" as const, message: "" },
 *   { process: 1, kind: "commit" as const, pet: "Ace", at: 4000, level: "INFO" as const, message: "" },
 * ];
 * console.log(await saveLockTimeline("out/lock_timeline.svg", events, "3 s"));
 * ```
 *
 * @module
 */
import { describeError, UserError } from "../common/cli.ts";
import {
  buildLanes,
  chartEnd,
  type Lane,
  type LaneState,
  type LockEvent,
  type LockEventKind,
  MARKS,
  occurring,
} from "./lock_events.ts";

/** One character per state in the text chart. */
const TEXT_FILL: Record<LaneState, string> = {
  idle: " ",
  working: "-",
  waiting: "~",
  holding: "#",
};

/** Colours of the SVG picture. */
const COLOUR = {
  working: "#9ecae1",
  waiting: "#fdae6b",
  holding: "#d62728",
  commit: "#2ca02c",
  retry: "#ff7f0e",
  fail: "#000000",
  stop: "#7f7f7f",
} as const;

/** The legend: what each state and marker means, in both charts. */
const LEGEND: [LaneState | LockEventKind, string, string][] = [
  ["holding", "#", "holding the lock"],
  ["waiting", "~", "waiting for it"],
  ["working", "-", "slow task without it"],
  ["commit", "C", "committed"],
  ["retry", "r", "gave up waiting, will retry"],
  ["fail", "X", "gave up (row lost)"],
  ["stop", "S", "stopped by Ctrl-C"],
];

/** How wide the text chart's lanes are, in characters. */
const TEXT_COLUMNS = 60;

/**
 * Saves the SVG picture to `path` and returns the text chart.
 *
 * @example
 * ```ts
 * const events = [
 *   { process: 1, kind: "lock" as const, pet: "Ace", at: 1000, level: "INFO" as const, message: "" },
 *   { process: 1, kind: "commit" as const, pet: "Ace", at: 4000, level: "INFO" as const, message: "" },
 * ];
 * console.log(await saveLockTimeline("out/lock_timeline.svg", events, "3 s, no remedy"));
 * ```
 */
export async function saveLockTimeline(
  path: string,
  events: LockEvent[],
  title: string,
): Promise<string> {
  try {
    await Deno.writeTextFile(path, svgTimeline(events, title));
  } catch (error) {
    throw new UserError(`cannot write ${path}: ${describeError(error)}`);
  }
  return textTimeline(events);
}

/**
 * The timeline as text: one lane per process, one column per time step.
 *
 * @example
 * ```ts
 * const events = [
 *   { process: 1, kind: "lock" as const, pet: "Ace", at: 1000, level: "INFO" as const, message: "" },
 *   { process: 1, kind: "commit" as const, pet: "Ace", at: 4000, level: "INFO" as const, message: "" },
 * ];
 * console.log(textTimeline(events));
 * // P1 |###C####C   | 1 committed, 0 failed (saved Ace) ...
 * ```
 */
export function textTimeline(events: LockEvent[]): string {
  const lanes = buildLanes(events);
  const endMs = chartEnd(lanes);
  const msPerColumn = endMs / TEXT_COLUMNS;
  const column = (ms: number) =>
    Math.min(TEXT_COLUMNS - 1, Math.floor(ms / msPerColumn));
  // Labels padded to the widest, so that P10's lane lines up with P9's.
  const width = Math.max(2, ...lanes.map((lane) => `P${lane.process}`.length));
  const lines = [
    `Lock timeline: ${seconds(endMs)} from the first event, one column = ${
      seconds(msPerColumn)
    }`,
  ];
  for (const lane of lanes) {
    const cells = Array<string>(TEXT_COLUMNS).fill(" ");
    for (const segment of lane.segments) {
      for (let c = column(segment.from); c <= column(segment.to); c++) {
        cells[c] = TEXT_FILL[segment.state];
      }
    }
    for (const mark of lane.marks) {
      cells[column(mark.at)] = MARKS[mark.kind]!;
    }
    lines.push(
      `${`P${lane.process}`.padEnd(width)} |${cells.join("")}| ${
        laneSummary(lane)
      }`,
    );
  }
  const axis = Array<string>(TEXT_COLUMNS + 1).fill(" ");
  const label = seconds(endMs);
  axis.splice(0, 3, ..."0 s");
  axis.splice(TEXT_COLUMNS + 1 - label.length, label.length, ...label);
  lines.push(`${" ".repeat(width + 1)}${axis.join("")}`);
  const shown = occurring(lanes);
  lines.push(
    LEGEND.filter(([key]) => shown.has(key))
      .map(([, letter, text]) => `${letter} ${text}`).join("  "),
  );
  return lines.join("\n");
}

/** "1 committed, 1 failed (saved Dingo; lost Cooper)": the lane's pets. */
function laneSummary(lane: Lane): string {
  const names = [
    lane.committed.length > 0 ? `saved ${lane.committed.join(", ")}` : "",
    lane.failed.length > 0 ? `lost ${lane.failed.join(", ")}` : "",
  ].filter((part) => part !== "").join("; ");
  return `${lane.committed.length} committed, ${lane.failed.length} failed` +
    (names ? ` (${names})` : "");
}

/**
 * The timeline as an SVG picture, with a time axis in seconds and a legend.
 * Each commit, retry and failure is one marker with a `class` of its kind.
 *
 * @example
 * ```ts
 * const events = [
 *   { process: 1, kind: "lock" as const, pet: "Ace", at: 1000, level: "INFO" as const, message: "" },
 *   { process: 1, kind: "commit" as const, pet: "Ace", at: 4000, level: "INFO" as const, message: "" },
 * ];
 * await Deno.writeTextFile("out/lock_timeline.svg", svgTimeline(events, "3 s, no remedy"));
 * ```
 */
export function svgTimeline(
  events: LockEvent[],
  title: string,
): string {
  const lanes = buildLanes(events);
  const endMs = chartEnd(lanes);
  const left = 50, top = 40, laneHeight = 28, plotWidth = 700;
  const x = (ms: number) => (left + (ms / endMs) * plotWidth).toFixed(1);
  const height = top + lanes.length * laneHeight + 90;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${
      left + plotWidth + 30
    }" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Lock timeline: ${
      escapeXml(title)
    }</text>`,
  ];
  for (const [i, lane] of lanes.entries()) {
    const y = top + i * laneHeight;
    parts.push(`<text x="10" y="${y + 17}">P${lane.process}</text>`);
    parts.push(
      `<line x1="${left}" y1="${y + 13}" x2="${left + plotWidth}" y2="${
        y + 13
      }" stroke="#ddd"/>`,
    );
    for (const segment of lane.segments) {
      if (segment.state === "idle") continue;
      parts.push(
        `<rect class="${segment.state}" x="${x(segment.from)}" y="${
          y + 4
        }" width="${
          Math.max(1, (segment.to - segment.from) / endMs * plotWidth).toFixed(
            1,
          )
        }" height="18" fill="${COLOUR[segment.state]}" stroke="white"><title>${
          escapeXml(segment.pet)
        }</title></rect>`,
      );
      // The pet's name on the bar where it fits (about 7 px per letter).
      const barWidth = (segment.to - segment.from) / endMs * plotWidth;
      if (segment.state === "holding" && barWidth > segment.pet.length * 7) {
        parts.push(
          `<text x="${x(segment.from)}" dx="3" y="${
            y + 17
          }" fill="white" font-size="11">${escapeXml(segment.pet)}</text>`,
        );
      }
    }
    for (const mark of lane.marks) {
      parts.push(
        `<circle class="${mark.kind}" cx="${x(mark.at)}" cy="${
          y + 13
        }" r="5" fill="${COLOUR[mark.kind as "commit"]}"><title>${
          escapeXml(mark.pet)
        }</title></circle>`,
      );
      if (mark.kind === "fail") {
        parts.push(
          `<text class="lost" x="${x(mark.at)}" dx="8" y="${
            y + 10
          }" font-size="10">${escapeXml(mark.pet)} lost</text>`,
        );
      }
    }
  }
  const axisY = top + lanes.length * laneHeight + 10;
  parts.push(...svgAxis(endMs, left, plotWidth, axisY));
  parts.push(...svgLegend(left, axisY + 40, occurring(lanes)));
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

/** The time axis: a line and a tick with its seconds about every tenth. */
function svgAxis(
  endMs: number,
  left: number,
  width: number,
  y: number,
): string[] {
  const parts = [
    `<line x1="${left}" y1="${y}" x2="${
      left + width
    }" y2="${y}" stroke="black"/>`,
  ];
  const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60];
  const stepS = steps.find((s) => endMs / 1000 / s <= 10) ?? 120;
  for (let s = 0; s * 1000 <= endMs; s += stepS) {
    const tx = (left + (s * 1000 / endMs) * width).toFixed(1);
    parts.push(
      `<line x1="${tx}" y1="${y}" x2="${tx}" y2="${y + 5}" stroke="black"/>`,
      `<text x="${tx}" y="${y + 18}" text-anchor="middle">${
        Number(s.toFixed(1))
      } s</text>`,
    );
  }
  return parts;
}

/** The legend: one swatch per state and marker that occurs. */
function svgLegend(
  left: number,
  y: number,
  shown: Set<LaneState | LockEventKind>,
): string[] {
  const items = LEGEND.filter(([key]) => shown.has(key));
  return items.map(([key, , label], i) => {
    const colour = COLOUR[key as keyof typeof COLOUR];
    const ix = left + (i % 3) * 230;
    const iy = y + Math.floor(i / 3) * 20;
    const swatch = key in TEXT_FILL
      ? `<rect x="${ix}" y="${
        iy - 10
      }" width="16" height="12" fill="${colour}"/>`
      : `<circle cx="${ix + 8}" cy="${iy - 4}" r="5" fill="${colour}"/>`;
    return `${swatch}<text x="${ix + 22}" y="${iy}">${label}</text>`;
  });
}

/** Milliseconds as seconds, with the digits that matter at that size. */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(ms < 1000 ? 3 : 1))} s`;
}

/** Escapes text for an SVG text node. */
function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;");
}
