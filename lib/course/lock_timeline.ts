/**
 * The lock timeline of the multiple_processes lesson: what each process did
 * with SQLite's write lock, and when, drawn as a text chart for the console
 * and as an SVG picture.
 *
 * The worker processes report each step as one event line on stdout
 * ({@linkcode formatLockEvent}); the parent picks those lines out of what the
 * workers print ({@linkcode parseLockEvent}) and, at the end of the run, draws
 * them ({@linkcode textTimeline}, {@linkcode svgTimeline}). The times are the
 * ones the processes really recorded (`Date.now()` on the same machine), so
 * the chart shows who held the lock while whom waited.
 *
 * @example
 * ```ts
 * import { formatLockEvent, parseLockEvent, textTimeline } from "./lock_timeline.ts";
 *
 * const line = formatLockEvent({ process: 1, kind: "lock", pet: "Ace", at: 1000 });
 * const event = parseLockEvent(line)!;
 * console.log(textTimeline([event, { ...event, kind: "commit", at: 4000 }]));
 * ```
 *
 * @module
 */
import { describeError, UserError } from "../common/cli.ts";

/**
 * What a process did at one moment:
 *
 * - `work`: started the slow task without holding the lock;
 * - `wait`: started waiting for the write lock;
 * - `lock`: got the lock (it holds it until `commit` or `fail`);
 * - `commit`: committed, the row is saved and the lock released;
 * - `retry`: gave up waiting this time, backs off and tries again;
 * - `fail`: gave up for good, the row is lost.
 */
export type LockEventKind =
  | "work"
  | "wait"
  | "lock"
  | "commit"
  | "retry"
  | "fail";

/** One step of one process, as the process logged it. */
export interface LockEvent {
  /** The process number: 1 for P1. */
  process: number;
  /** What happened. */
  kind: LockEventKind;
  /** The pet being inserted. */
  pet: string;
  /** When, in `Date.now()` milliseconds. */
  at: number;
}

/** What the lane of a process shows between two of its events. */
type LaneState = "idle" | "working" | "waiting" | "holding";

/** The state a lane is in after each kind of event. */
const STATE_AFTER: Record<LockEventKind, LaneState> = {
  work: "working",
  wait: "waiting",
  lock: "holding",
  commit: "idle",
  retry: "idle",
  fail: "idle",
};

/** Marks an event line among a worker's output. */
const EVENT_PREFIX = "LOCK_EVENT ";

/** One character per state in the text chart. */
const TEXT_FILL: Record<LaneState, string> = {
  idle: " ",
  working: "-",
  waiting: "~",
  holding: "#",
};

/** Text markers for the events that end a lane segment. */
const TEXT_MARK: Partial<Record<LockEventKind, string>> = {
  commit: "C",
  retry: "r",
  fail: "X",
};

/** Colours of the SVG picture. */
const COLOUR = {
  working: "#9ecae1",
  waiting: "#fdae6b",
  holding: "#d62728",
  commit: "#2ca02c",
  retry: "#ff7f0e",
  fail: "#000000",
} as const;

/** How wide the text chart's lanes are, in characters. */
const TEXT_COLUMNS = 60;

/**
 * One event as the single line a worker prints for the parent.
 *
 * @example
 * ```ts
 * formatLockEvent({ process: 2, kind: "wait", pet: "Cooper", at: 1700000000000 });
 * // 'LOCK_EVENT {"process":2,"kind":"wait","pet":"Cooper","at":1700000000000}'
 * ```
 */
export function formatLockEvent(event: LockEvent): string {
  return EVENT_PREFIX + JSON.stringify(event);
}

/**
 * The event in a line a worker printed, or `undefined` for an ordinary line.
 *
 * @example
 * ```ts
 * parseLockEvent("2024-05-09 14:06:00,123 - INFO - hello"); // undefined
 * ```
 */
export function parseLockEvent(line: string): LockEvent | undefined {
  if (!line.startsWith(EVENT_PREFIX)) return undefined;
  const value = JSON.parse(line.slice(EVENT_PREFIX.length)) as LockEvent;
  return value;
}

/**
 * A handler for each line a worker prints: event lines go into `events`, every
 * other line to `otherLine`.
 *
 * @example
 * ```ts
 * const events: LockEvent[] = [];
 * const onLine = collectLockEvents(events, (line) => console.error(line));
 * onLine('LOCK_EVENT {"process":1,"kind":"wait","pet":"Ace","at":1}'); // collected
 * ```
 */
export function collectLockEvents(
  events: LockEvent[],
  otherLine: (line: string) => void,
): (line: string) => void {
  return (line) => {
    const event = parseLockEvent(line);
    if (event) events.push(event);
    else otherLine(line);
  };
}

/**
 * Saves the SVG picture to `path` and returns the text chart.
 *
 * @example
 * ```ts
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

/** A stretch of one lane in one state, in ms since the start. */
interface Segment {
  state: LaneState;
  from: number;
  to: number;
}

/** One process's lane: its segments, its end markers, its counts. */
interface Lane {
  process: number;
  segments: Segment[];
  marks: { kind: LockEventKind; at: number }[];
  committed: number;
  failed: number;
}

/** Sorts the events into one lane per process, times from the first event. */
function buildLanes(events: LockEvent[]): Lane[] {
  const startedAt = Math.min(...events.map((event) => event.at));
  const lanes = new Map<number, Lane>();
  const sorted = [...events].sort((a, b) => a.at - b.at);
  const state = new Map<number, { state: LaneState; since: number }>();
  for (const event of sorted) {
    const lane = lanes.get(event.process) ?? {
      process: event.process,
      segments: [],
      marks: [],
      committed: 0,
      failed: 0,
    };
    lanes.set(event.process, lane);
    const at = event.at - startedAt;
    const current = state.get(event.process);
    if (current && current.state !== "idle") {
      lane.segments.push({ state: current.state, from: current.since, to: at });
    }
    state.set(event.process, { state: STATE_AFTER[event.kind], since: at });
    if (TEXT_MARK[event.kind]) lane.marks.push({ kind: event.kind, at });
    if (event.kind === "commit") lane.committed++;
    if (event.kind === "fail") lane.failed++;
  }
  return [...lanes.values()].sort((a, b) => a.process - b.process);
}

/** The end of the chart in ms: the last event, at least 100 ms. */
function chartEnd(lanes: Lane[]): number {
  const times = lanes.flatMap((lane) => [
    ...lane.segments.map((segment) => segment.to),
    ...lane.marks.map((mark) => mark.at),
  ]);
  return Math.max(100, ...times);
}

/**
 * The timeline as text: one lane per process, one column per time step.
 *
 * @example
 * ```ts
 * console.log(textTimeline(events));
 * // P1 |###C####C   | 2 committed, 0 failed
 * // P2 |~~~~~~~~X   | 0 committed, 1 failed ...
 * ```
 */
export function textTimeline(events: LockEvent[]): string {
  const lanes = buildLanes(events);
  const endMs = chartEnd(lanes);
  const msPerColumn = endMs / TEXT_COLUMNS;
  const column = (ms: number) =>
    Math.min(TEXT_COLUMNS - 1, Math.floor(ms / msPerColumn));
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
      cells[column(mark.at)] = TEXT_MARK[mark.kind]!;
    }
    lines.push(
      `P${lane.process} |${
        cells.join("")
      }| ${lane.committed} committed, ${lane.failed} failed`,
    );
  }
  const axis = Array<string>(TEXT_COLUMNS + 1).fill(" ");
  const label = seconds(endMs);
  axis.splice(0, 3, ..."0 s");
  axis.splice(TEXT_COLUMNS + 1 - label.length, label.length, ...label);
  lines.push(`${" ".repeat(lanes.length > 9 ? 4 : 3)}${axis.join("")}`);
  lines.push(
    "# holding the lock  ~ waiting for it  - slow task without it  " +
      "C committed  r busy, retrying  X failed (row lost)",
  );
  return lines.join("\n");
}

/**
 * The timeline as an SVG picture, with a time axis in seconds and a legend.
 * Each commit, retry and failure is one marker with a `class` of its kind.
 *
 * @example
 * ```ts
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
        }" height="18" fill="${COLOUR[segment.state]}"/>`,
      );
    }
    for (const mark of lane.marks) {
      parts.push(
        `<circle class="${mark.kind}" cx="${x(mark.at)}" cy="${
          y + 13
        }" r="5" fill="${COLOUR[mark.kind as "commit"]}"/>`,
      );
    }
  }
  const axisY = top + lanes.length * laneHeight + 10;
  parts.push(...svgAxis(endMs, left, plotWidth, axisY));
  parts.push(...svgLegend(left, axisY + 40));
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

/** The legend: one swatch per state and marker. */
function svgLegend(left: number, y: number): string[] {
  const items: [string, string, "rect" | "circle"][] = [
    ["holding the lock", COLOUR.holding, "rect"],
    ["waiting for it", COLOUR.waiting, "rect"],
    ["slow task without it", COLOUR.working, "rect"],
    ["committed", COLOUR.commit, "circle"],
    ["busy, retrying", COLOUR.retry, "circle"],
    ["failed (row lost)", COLOUR.fail, "circle"],
  ];
  return items.map(([label, colour, shape], i) => {
    const ix = left + (i % 3) * 230;
    const iy = y + Math.floor(i / 3) * 20;
    const swatch = shape === "rect"
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
