/**
 * What the status page knows of each program: the heartbeats seen, the last
 * one's age, whether it is stale, and the messages, bytes and files per
 * interval for its chart.
 *
 * A program is stale when its last heartbeat is older than
 * {@linkcode STALE_INTERVALS} of its own intervals (the longest gap between
 * its last few heartbeats: a last one sent at stop comes early), or older than the given `staleSeconds` while only one was seen.
 *
 * @example
 * ```ts
 * import { ProgramBoard } from "./program_board.ts";
 *
 * const board = new ProgramBoard({ staleSeconds: 60 });
 * board.add({ programId: "pc1", at: new Date(), fields: { n_bytes_produced: 5 } });
 * board.view(new Date()).programs[0].stale; // false
 * ```
 *
 * @module
 */
import type { Heartbeat } from "../kafka/heartbeats.ts";

/** Intervals without a heartbeat after which a program counts as stale. */
export const STALE_INTERVALS = 3;
/** Heartbeats kept per program for its chart. */
const HISTORY = 40;
/** Latest gaps between heartbeats that give a program's interval. */
const GAPS = 3;

/** One interval of a program's chart. */
export interface IntervalPoint {
  /** The heartbeat's time, ISO. */
  at: string;
  /** Messages produced, or processed (or read), in the interval. */
  messages: number;
  /** Their bytes. */
  bytes: number;
  /** Files finished in the interval, where the program says. */
  files: number;
}

/** One program as the page shows it. */
export interface ProgramView {
  /** The program ID of its heartbeat keys. */
  id: string;
  /** Which tool (the `program` field), if it says. */
  program: string;
  /** The host it runs on (the `host` field), if it says. */
  host: string;
  /** The last heartbeat's time, ISO. */
  last: string;
  /** Seconds since then. */
  ageSeconds: number;
  /** Its interval: the longest of its latest gaps, if two heartbeats were seen. */
  intervalSeconds: number | null;
  /** Whether it missed its heartbeats (see the module doc). */
  stale: boolean;
  /** The consumer group's lag, where the program sends it. */
  groupLag: number | null;
  /** Heartbeats seen. */
  heartbeats: number;
  /** Totals over the heartbeats seen. */
  totals: { messages: number; bytes: number; files: number };
  /** The latest intervals, oldest first. */
  history: IntervalPoint[];
}

/** What the page receives: the time and every program, most recent first. */
export interface BoardView {
  /** The server's time, ISO. */
  now: string;
  /** The programs. */
  programs: ProgramView[];
}

/** How a board judges staleness. */
export interface BoardOptions {
  /** A program seen once is stale after this many seconds. */
  staleSeconds: number;
}

/** The first of `names` that is a number in `fields`, else 0. */
function firstNumber(fields: Record<string, unknown>, names: string[]): number {
  for (const name of names) {
    const value = fields[name];
    if (typeof value === "number" && Number.isFinite(value)) return value;
  }
  return 0;
}

/** A field as text, or "" when missing. */
function text(fields: Record<string, unknown>, name: string): string {
  const value = fields[name];
  return typeof value === "string" ? value : "";
}

/** A heartbeat turned into one point of the chart. */
function pointOf(beat: Heartbeat): IntervalPoint {
  const f = beat.fields;
  return {
    at: beat.at.toISOString(),
    messages: firstNumber(f, [
      "n_messages_produced",
      "n_messages_processed",
      "n_messages_read",
    ]),
    bytes: firstNumber(f, [
      "n_bytes_produced",
      "n_bytes_processed",
      "n_bytes_read",
    ]),
    files: firstNumber(f, ["n_files_produced", "n_files_processed"]),
  };
}

/** One program's heartbeats so far. */
interface ProgramRecord {
  last: Heartbeat;
  gaps: number[];
  count: number;
  totals: { messages: number; bytes: number; files: number };
  history: IntervalPoint[];
}

/** The programs seen on a heartbeat topic (see the module doc). */
export class ProgramBoard {
  readonly #programs = new Map<string, ProgramRecord>();
  readonly #options: BoardOptions;

  /** An empty board. */
  constructor(options: BoardOptions) {
    this.#options = options;
  }

  /**
   * Adds a heartbeat (one older than the program's last is counted but does
   * not move its time back).
   *
   * @example
   * ```ts
   * import { ProgramBoard } from "./program_board.ts";
   *
   * new ProgramBoard({ staleSeconds: 60 }).add({ programId: "pc1", at: new Date(), fields: {} });
   * ```
   */
  add(beat: Heartbeat): void {
    const point = pointOf(beat);
    const record = this.#programs.get(beat.programId);
    if (!record) {
      this.#programs.set(beat.programId, {
        last: beat,
        gaps: [],
        count: 1,
        totals: {
          messages: point.messages,
          bytes: point.bytes,
          files: point.files,
        },
        history: [point],
      });
      return;
    }
    record.count++;
    record.totals.messages += point.messages;
    record.totals.bytes += point.bytes;
    record.totals.files += point.files;
    record.history.push(point);
    if (record.history.length > HISTORY) record.history.shift();
    if (beat.at >= record.last.at) {
      record.gaps.push((beat.at.getTime() - record.last.at.getTime()) / 1000);
      if (record.gaps.length > GAPS) record.gaps.shift();
      record.last = beat;
    }
  }

  /**
   * Every program as the page shows it at `now`.
   *
   * @example
   * ```ts
   * import { ProgramBoard } from "./program_board.ts";
   *
   * new ProgramBoard({ staleSeconds: 60 }).view(new Date()).programs; // []
   * ```
   */
  view(now: Date): BoardView {
    const programs = [...this.#programs.entries()].map(([id, record]) =>
      this.#viewOf(id, record, now)
    ).sort((a, b) => b.last.localeCompare(a.last));
    return { now: now.toISOString(), programs };
  }

  /** One program at `now`. */
  #viewOf(id: string, record: ProgramRecord, now: Date): ProgramView {
    const ageSeconds = (now.getTime() - record.last.at.getTime()) / 1000;
    const intervalSeconds = record.gaps.length > 0
      ? Math.max(...record.gaps)
      : null;
    const staleAfter = intervalSeconds && intervalSeconds > 0
      ? STALE_INTERVALS * intervalSeconds
      : this.#options.staleSeconds;
    const lag = record.last.fields.group_lag;
    const { messages, bytes, files } = record.totals;
    return {
      id,
      program: text(record.last.fields, "program"),
      host: text(record.last.fields, "host"),
      last: record.last.at.toISOString(),
      ageSeconds: Math.max(0, Math.round(ageSeconds * 10) / 10),
      intervalSeconds,
      stale: ageSeconds > staleAfter,
      groupLag: typeof lag === "number" ? lag : null,
      heartbeats: record.count,
      totals: { messages, bytes, files },
      history: [...record.history],
    };
  }
}
