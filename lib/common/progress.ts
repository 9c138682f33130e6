/**
 * Progress of long work: bars on a terminal, plain lines otherwise.
 *
 * On a terminal each task gets a bar from the `cli-progress` package (chunks
 * done, MB/s, time left). When output goes to a file or a pipe, bars would only
 * fill it with control characters, so the board prints one plain line per task
 * every few seconds instead.
 *
 * @example
 * ```ts
 * import { ProgressBoard } from "./progress.ts";
 *
 * const board = new ProgressBoard({ print: (line) => console.log(line) });
 * const bar = board.add("big.bin", 65536);
 * bar.update(1024, 1024 * 16384); // chunks done, bytes done
 * bar.done();
 * board.stop();
 * ```
 *
 * @module
 */
import cliProgress from "cli-progress";
import process from "node:process";

/** One task on the board. */
export interface ProgressBar {
  /** Sets how many units (chunks) and bytes are done. */
  update(done: number, bytes: number): void;
  /** Marks the task finished and takes it off the board. */
  done(): void;
}

/** How a {@linkcode ProgressBoard} shows itself. */
export interface ProgressBoardOptions {
  /** Where plain lines go. */
  print: (line: string) => void;
  /** Draw bars; default: when stderr is a terminal. */
  bars?: boolean;
  /** Seconds between plain lines; default 5. */
  plainEverySeconds?: number;
  /** The unit counted, default "chunks". */
  unit?: string;
}

interface Task {
  label: string;
  total: number;
  done: number;
  bytes: number;
  startedMs: number;
  bar?: InstanceType<typeof cliProgress.SingleBar>;
}

/** A set of progress bars (or periodic plain lines). */
export class ProgressBoard {
  readonly #multi: InstanceType<typeof cliProgress.MultiBar> | undefined;
  readonly #tasks = new Set<Task>();
  readonly #print: (line: string) => void;
  readonly #unit: string;
  readonly #timer: ReturnType<typeof setInterval> | undefined;

  /** A board that prints through `options.print`. */
  constructor(options: ProgressBoardOptions) {
    this.#print = options.print;
    this.#unit = options.unit ?? "chunks";
    const bars = options.bars ?? Deno.stderr.isTerminal();
    if (bars) {
      this.#multi = new cliProgress.MultiBar({
        stream: process.stderr,
        format:
          `{label} [{bar}] {value}/{total} ${this.#unit} | {speed} MB/s | {left} left`,
        hideCursor: true,
        clearOnComplete: false,
      }, cliProgress.Presets.shades_classic);
    } else {
      const everyMs = (options.plainEverySeconds ?? 5) * 1000;
      this.#timer = setInterval(() => this.#printPlain(), everyMs);
    }
  }

  /** Adds a task of `total` units. */
  add(label: string, total: number): ProgressBar {
    const task: Task = {
      label,
      total,
      done: 0,
      bytes: 0,
      startedMs: Date.now(),
    };
    task.bar = this.#multi?.create(total, 0, {
      label,
      speed: "0.0",
      left: "?",
    });
    this.#tasks.add(task);
    return {
      update: (done, bytes) => {
        task.done = done;
        task.bytes = bytes;
        task.bar?.update(done, {
          label,
          speed: speedOf(task).toFixed(1),
          left: `${secondsLeft(task)} s`,
        });
      },
      done: () => {
        task.bar?.stop();
        if (task.bar) this.#multi?.remove(task.bar);
        this.#tasks.delete(task);
      },
    };
  }

  /** Writes a line above the bars (or just a line, without bars). */
  log(line: string): void {
    if (this.#multi) this.#multi.log(line + "\n");
    else this.#print(line);
  }

  /** Removes the bars and stops the timer. */
  stop(): void {
    this.#multi?.stop();
    clearInterval(this.#timer);
  }

  #printPlain(): void {
    for (const task of this.#tasks) {
      this.#print(
        `${task.label}: ${task.done}/${task.total} ${this.#unit}, ${
          speedOf(task).toFixed(1)
        } MB/s, about ${secondsLeft(task)} s left`,
      );
    }
  }
}

/** Seconds left at the speed so far, or "?" before there is a speed. */
function secondsLeft(task: Task): number | "?" {
  const speed = speedOf(task);
  if (task.done === 0 || speed === 0) return "?";
  const bytesLeft = (task.bytes / task.done) * (task.total - task.done);
  return Math.round(bytesLeft / 1e6 / speed);
}

/** MB/s since the task started. */
function speedOf(task: Task): number {
  const seconds = (Date.now() - task.startedMs) / 1000;
  return seconds > 0 ? task.bytes / 1e6 / seconds : 0;
}
