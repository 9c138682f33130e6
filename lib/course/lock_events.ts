/**
 * The events of the multiple_processes lesson's lock timeline, and the lanes
 * they make: what each process did with SQLite's write lock, and when.
 *
 * The worker processes report each step as one event line on stdout
 * ({@linkcode formatLockEvent}); the parent picks those lines out of what the
 * workers print ({@linkcode collectLockEvents}). The times are the ones the
 * processes really recorded (`Date.now()` on the same machine).
 * lib/course/lock_timeline.ts draws them.
 *
 * @example
 * ```ts
 * import { formatLockEvent, parseLockEvent } from "./lock_events.ts";
 *
 * const line = formatLockEvent({ process: 1, kind: "lock", pet: "Ace", at: 1000 });
 * parseLockEvent(line); // { process: 1, kind: "lock", pet: "Ace", at: 1000 }
 * ```
 *
 * @module
 */

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
export type LaneState = "idle" | "working" | "waiting" | "holding";

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

/** The events that leave a marker on a lane, with their text-chart letter. */
export const MARKS: Partial<Record<LockEventKind, string>> = {
  commit: "C",
  retry: "r",
  fail: "X",
};

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

/** A stretch of one lane in one state, in ms since the start. */
export interface Segment {
  /** What the process did during this stretch. */
  state: LaneState;
  /** Start, in ms since the first event. */
  from: number;
  /** End, in ms since the first event. */
  to: number;
}

/** One process's lane: its segments, its end markers, its counts. */
export interface Lane {
  /** The process number: 1 for P1. */
  process: number;
  /** Its stretches of working, waiting and holding, in time order. */
  segments: Segment[];
  /** Its commits, retries and failures, in ms since the first event. */
  marks: { kind: LockEventKind; at: number }[];
  /** How many rows it committed. */
  committed: number;
  /** How many rows it lost. */
  failed: number;
}

/** Sorts the events into one lane per process, times from the first event. */
export function buildLanes(events: LockEvent[]): Lane[] {
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
    if (MARKS[event.kind]) lane.marks.push({ kind: event.kind, at });
    if (event.kind === "commit") lane.committed++;
    if (event.kind === "fail") lane.failed++;
  }
  return [...lanes.values()].sort((a, b) => a.process - b.process);
}

/** The end of the chart in ms: the last event, at least 100 ms. */
export function chartEnd(lanes: Lane[]): number {
  const times = lanes.flatMap((lane) => [
    ...lane.segments.map((segment) => segment.to),
    ...lane.marks.map((mark) => mark.at),
  ]);
  return Math.max(100, ...times);
}
