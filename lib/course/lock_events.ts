/**
 * The events of the multiple_processes lesson: what each worker process did
 * with SQLite's write lock, and when; and the timeline lanes they make.
 *
 * A worker prints each step as one line of JSON on its stdout
 * ({@linkcode tellParent}, {@linkcode formatLockEvent}); the parent reads
 * those lines back ({@linkcode relayLockEvents}, {@linkcode parseLockEvent}),
 * prints each event's `message` as a log line stamped with the event's own
 * time, and draws the lanes
 * ({@linkcode buildLanes}) with lib/course/lock_timeline.ts. The times are the
 * ones the workers really recorded (`Date.now()` on the same machine).
 *
 * @example
 * ```ts
 * import { formatLockEvent, parseLockEvent } from "./lock_events.ts";
 *
 * const event = {
 *   process: 1, kind: "lock" as const, pet: "Ace", at: 1000,
 *   level: "INFO" as const, message: "P1: got the lock for Ace.",
 * };
 * parseLockEvent(formatLockEvent(event)); // the same event
 * ```
 *
 * @module
 */
import type { LogLevel } from "../common/log.ts";

/**
 * What a process did at one moment:
 *
 * - `note`: a log line only (which function was called), no lock change;
 * - `work`: started the slow task without holding the lock;
 * - `ask`: asked for the write lock (BEGIN, INSERT) and waits if it is busy;
 * - `lock`: got the lock (it holds it until `commit`, `retry` or `fail`);
 * - `commit`: committed, the row is saved and the lock released;
 * - `retry`: gave up waiting this time, backs off and tries again;
 * - `fail`: gave up for good, the row is lost;
 * - `stop`: stopped by Ctrl-C; what it held was rolled back.
 */
export type LockEventKind =
  | "note"
  | "work"
  | "ask"
  | "lock"
  | "commit"
  | "retry"
  | "fail"
  | "stop";

/** One step of one process, as the process reported it. */
export interface LockEvent {
  /** The process number: 1 for P1. */
  process: number;
  /** What happened. */
  kind: LockEventKind;
  /** The pet being inserted ("" for a line about no pet). */
  pet: string;
  /** When, in `Date.now()` milliseconds. */
  at: number;
  /** The log level of its line. */
  level: LogLevel;
  /** The log line's text. */
  message: string;
}

/** What the lane of a process shows between two of its events. */
export type LaneState = "idle" | "working" | "waiting" | "holding";

/** The state a lane is in after each kind of event (none: unchanged). */
const STATE_AFTER: Partial<Record<LockEventKind, LaneState>> = {
  work: "working",
  ask: "waiting",
  lock: "holding",
  commit: "idle",
  retry: "idle",
  fail: "idle",
  stop: "idle",
};

/**
 * The log level of each kind of event: a lost row is an error, a retry or a
 * stop a warning, the rest information.
 *
 * @example
 * ```ts
 * LEVELS.fail; // "ERROR"
 * ```
 */
export const LEVELS: Record<LockEventKind, LogLevel> = {
  note: "INFO",
  work: "INFO",
  ask: "INFO",
  lock: "INFO",
  commit: "INFO",
  retry: "WARNING",
  fail: "ERROR",
  stop: "WARNING",
};

/** The events that leave a marker on a lane, with their text-chart letter. */
export const MARKS: Partial<Record<LockEventKind, string>> = {
  commit: "C",
  retry: "r",
  fail: "X",
  stop: "S",
};

/**
 * One event as the single JSON line a worker prints for the parent.
 *
 * @example
 * ```ts
 * formatLockEvent({
 *   process: 2, kind: "ask", pet: "Cooper", at: 1700000000000,
 *   level: "INFO", message: "P2: asks for the lock for Cooper.",
 * });
 * // '{"process":2,"kind":"ask","pet":"Cooper","at":1700000000000,...}'
 * ```
 */
export function formatLockEvent(event: LockEvent): string {
  return JSON.stringify(event);
}

/**
 * The event in a line a worker printed, or `undefined` for any other line
 * (an error a worker could not report as an event, for example).
 *
 * @example
 * ```ts
 * parseLockEvent("error: Uncaught Error: boom"); // undefined
 * ```
 */
export function parseLockEvent(line: string): LockEvent | undefined {
  if (!line.startsWith('{"process":')) return undefined;
  try {
    return JSON.parse(line) as LockEvent;
  } catch {
    return undefined;
  }
}

/**
 * A worker's report of one step to its parent, stamped now: the single JSON
 * line of {@linkcode formatLockEvent} on stdout, its message starting `P2: `
 * for process 2 and its level from {@linkcode LEVELS}. Three processes printing
 * log lines to one console would mix them out of order; the parent prints each
 * `message` stamped with its time `at`, in time order, and draws the lock
 * timeline from the `kind`s. The line reads, for example,
 * `{"process":2,"kind":"ask","pet":"Cooper","at":1715263560123,
 * "level":"INFO","message":"P2: asks for the lock to insert Cooper."}`.
 *
 * @example
 * ```ts
 * tellParent(2, "ask", "Cooper", "asks for the lock to insert Cooper.");
 * ```
 */
export function tellParent(
  process: number,
  kind: LockEventKind,
  pet: string,
  text: string,
): void {
  const level = LEVELS[kind]; // ERROR for "fail", ...
  const message = `P${process}: ${text}`;
  const event = { process, kind, pet, at: Date.now() };
  console.log(formatLockEvent({ ...event, level, message }));
}

/** Where {@linkcode relayLockEvents} prints: a `TimeOrderedLog`, say. */
export interface TimedPrinter {
  /** Prints `message` as a line that happened at `at` (`Date.now()` ms). */
  add(at: number, level: LogLevel, message: string): void;
}

/**
 * The parent's handler for each line worker `process` prints: a lock event
 * ({@linkcode tellParent}) is kept in `events` for the timeline and its
 * message printed at its own time; any other line (a crash) is printed as it
 * is, as an error of that worker, now.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 * import { TimeOrderedLog } from "./time_ordered_log.ts";
 *
 * const events: LockEvent[] = [];
 * const printer = new TimeOrderedLog(new Logger());
 * const onLine = relayLockEvents(1, events, printer);
 * onLine("error: Uncaught Error: boom"); // "P1: error: ..." as an ERROR
 * printer.flush();
 * ```
 */
export function relayLockEvents(
  process: number,
  events: LockEvent[],
  printer: TimedPrinter,
): (line: string) => void {
  return (line) => {
    const event = parseLockEvent(line);
    if (event) events.push(event);
    if (event) printer.add(event.at, event.level, event.message);
    else printer.add(Date.now(), "ERROR", `P${process}: ${line}`);
  };
}

/**
 * Seconds since `startMs`, for a step's message.
 *
 * @example
 * ```ts
 * secondsSince(Date.now() - 4); // "0.004 s"
 * ```
 */
export function secondsSince(startMs: number): string {
  return `${((Date.now() - startMs) / 1000).toFixed(3)} s`;
}

/** A stretch of one lane in one state, in ms since the start. */
export interface Segment {
  /** What the process did during this stretch. */
  state: LaneState;
  /** Start, in ms since the first event. */
  from: number;
  /** End, in ms since the first event. */
  to: number;
  /** The pet it was about. */
  pet: string;
}

/** A commit, retry, failure or stop on a lane. */
export interface Mark {
  /** Which of {@linkcode MARKS}. */
  kind: LockEventKind;
  /** When, in ms since the first event. */
  at: number;
  /** The pet it was about. */
  pet: string;
}

/** One process's lane: its segments, its markers, its pets. */
export interface Lane {
  /** The process number: 1 for P1. */
  process: number;
  /** Its stretches of working, waiting and holding, in time order. */
  segments: Segment[];
  /** Its commits, retries, failures and stop. */
  marks: Mark[];
  /** The pets it committed. */
  committed: string[];
  /** The pets it gave up on (rows lost). */
  failed: string[];
}

/**
 * Sorts the events into one lane per process, times from the first event.
 * A lane still waiting or holding at its last event (a worker that was
 * killed) is drawn up to the last event of the run.
 *
 * @example
 * ```ts
 * const lanes = buildLanes([
 *   { process: 1, kind: "lock", pet: "Ace", at: 1000, level: "INFO", message: "" },
 *   { process: 1, kind: "commit", pet: "Ace", at: 4000, level: "INFO", message: "" },
 * ]);
 * lanes[0].committed; // ["Ace"]
 * ```
 */
export function buildLanes(events: LockEvent[]): Lane[] {
  const sorted = [...events].sort((a, b) => a.at - b.at);
  const startedAt = sorted[0]?.at ?? 0;
  const endAt = (sorted.at(-1)?.at ?? 0) - startedAt;
  const lanes = new Map<number, Lane>();
  const state = new Map<number, Segment>();
  const lane = (process: number) => {
    const found = lanes.get(process) ??
      { process, segments: [], marks: [], committed: [], failed: [] };
    lanes.set(process, found);
    return found;
  };
  for (const event of sorted) {
    const at = event.at - startedAt;
    const next = STATE_AFTER[event.kind];
    const current = state.get(event.process);
    if (next && current && current.state !== "idle") {
      lane(event.process).segments.push({ ...current, to: at });
    }
    if (next) {
      state.set(event.process, {
        state: next,
        from: at,
        to: at,
        pet: event.pet,
      });
    }
    const target = lane(event.process);
    if (MARKS[event.kind]) {
      target.marks.push({ kind: event.kind, at, pet: event.pet });
    }
    if (event.kind === "commit") target.committed.push(event.pet);
    if (event.kind === "fail") target.failed.push(event.pet);
  }
  for (const [process, current] of state) {
    if (current.state === "idle") continue;
    lane(process).segments.push({ ...current, to: endAt });
  }
  return [...lanes.values()].sort((a, b) => a.process - b.process);
}

/**
 * The states and markers that occur in `lanes`, for a legend that lists
 * only what the chart shows.
 *
 * @example
 * ```ts
 * const shown = occurring(buildLanes([]));
 * shown.has("holding"); // false
 * ```
 */
export function occurring(lanes: Lane[]): Set<LaneState | LockEventKind> {
  const found = new Set<LaneState | LockEventKind>();
  for (const lane of lanes) {
    for (const segment of lane.segments) found.add(segment.state);
    for (const mark of lane.marks) found.add(mark.kind);
  }
  return found;
}

/**
 * The end of the chart in ms: the last event, at least 100 ms.
 *
 * @example
 * ```ts
 * chartEnd([]); // 100
 * ```
 */
export function chartEnd(lanes: Lane[]): number {
  const times = lanes.flatMap((lane) => [
    ...lane.segments.map((segment) => segment.to),
    ...lane.marks.map((mark) => mark.at),
  ]);
  return Math.max(100, ...times);
}
