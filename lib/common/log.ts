/**
 * Log lines in the two formats of the Python originals.
 *
 * - `"python"`: Python's `logging` format used by the course module,
 *   `2024-05-09 14:06:00,123 - INFO - message` (local time, a comma before the
 *   milliseconds).
 * - `"bracket"`: the Kafka tools' format,
 *   `[upload_data_file at 2024-05-09 14:06:00] message`, with `WARNING: ` or
 *   `ERROR: ` in front of warnings and errors.
 *
 * A logger can also copy every line into a file (`tee`), which is how
 * `--output out/out3.txt` saves a run without copy and paste.
 *
 * @example
 * ```ts
 * import { Logger } from "./log.ts";
 *
 * const log = new Logger({ style: "python", tee: "out/run.txt" });
 * log.info("Called recreate_database().");
 * log.error("ERROR while P1 inserting pet Ace: database is locked");
 * log.close();
 * ```
 *
 * @module
 */
import { openOutputFile } from "./cli.ts";
import { writeAllSync } from "./write_all.ts";

/** Which of the originals' formats to write. */
export type LogStyle = "python" | "bracket";

/** Python's level names, which the course output shows. */
export type LogLevel = "INFO" | "WARNING" | "ERROR";

/** How a {@linkcode Logger} writes. */
export interface LoggerOptions {
  /** Line format; default `"python"`. */
  style?: LogStyle;
  /** Program name for the `"bracket"` style. */
  program?: string;
  /** Console stream; Python's logging writes to stderr, the default here too. */
  console?: "stderr" | "stdout" | "none";
  /** Also write every line to this file. */
  tee?: string;
  /** `"w"` truncates the tee file first (the default), `"a"` appends. */
  teeMode?: "w" | "a";
}

const encoder = new TextEncoder();

/** Writes formatted log lines to the console and, optionally, a file. */
export class Logger {
  readonly #style: LogStyle;
  readonly #program: string;
  readonly #console: "stderr" | "stdout" | "none";
  #file: Deno.FsFile | undefined;
  readonly #listeners = new Set<(line: string) => void>();

  /** A logger that writes as `options` say (default: Python style, stderr). */
  constructor(options: LoggerOptions = {}) {
    this.#style = options.style ?? "python";
    this.#program = options.program ?? "";
    this.#console = options.console ?? "stderr";
    if (options.tee) {
      this.#file = openOutputFile(options.tee, {
        append: options.teeMode === "a",
      });
    }
  }

  /** Logs at INFO. */
  info(message: string): void {
    this.log("INFO", message);
  }

  /** Logs at WARNING. */
  warn(message: string): void {
    this.log("WARNING", message);
  }

  /** Logs at ERROR. */
  error(message: string): void {
    this.log("ERROR", message);
  }

  /** Formats `message` at `level` and writes it everywhere. */
  log(level: LogLevel, message: string): void {
    this.print(formatLogLine(this.#style, level, message, this.#program));
  }

  /** Writes text as it is (a line is added), to the console and the tee file. */
  print(text: string): void {
    const bytes = encoder.encode(text + "\n");
    if (this.#console === "stderr") writeAllSync(Deno.stderr, bytes);
    if (this.#console === "stdout") writeAllSync(Deno.stdout, bytes);
    // A sync write per line: a crash or Ctrl-C never loses a line already logged.
    if (this.#file) writeAllSync(this.#file, bytes);
    for (const listener of this.#listeners) listener(text);
  }

  /**
   * Calls `listener` with every line written from now on (how log lines also
   * go to a Kafka topic); returns the function that stops it.
   *
   * @example
   * ```ts
   * import { Logger } from "./log.ts";
   *
   * const log = new Logger({ console: "none" });
   * const lines: string[] = [];
   * const stop = log.onLine((line) => lines.push(line));
   * log.info("hello");
   * stop();
   * ```
   */
  onLine(listener: (line: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Closes the tee file. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}

/**
 * Formats one log line in the given style.
 *
 * @example
 * ```ts
 * formatLogLine("bracket", "WARNING", "skipped", "reconstruct_data_files");
 * // "[reconstruct_data_files at 2024-05-09 14:06:00] WARNING: skipped"
 * ```
 */
export function formatLogLine(
  style: LogStyle,
  level: LogLevel,
  message: string,
  program = "",
  now: Date = new Date(),
): string {
  if (style === "python") {
    return `${pythonTimestamp(now)} - ${level} - ${message}`;
  }
  const prefix = level === "INFO" ? "" : `${level}: `;
  return `[${program} at ${
    pythonTimestamp(now).slice(0, 19)
  }] ${prefix}${message}`;
}

/**
 * Python logging's `asctime`: `YYYY-MM-DD HH:MM:SS,mmm` in local time.
 *
 * @example
 * ```ts
 * pythonTimestamp(new Date(2024, 4, 9, 14, 6, 0, 7)); // "2024-05-09 14:06:00,007"
 * ```
 */
export function pythonTimestamp(date: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${
    pad(date.getDate())
  } ${pad(date.getHours())}:${pad(date.getMinutes())}:${
    pad(date.getSeconds())
  },${pad(date.getMilliseconds(), 3)}`;
}

/**
 * The originals' friendly date: `2024-05-09 at 02:06 PM`.
 *
 * @example
 * ```ts
 * friendlyDateTime(new Date(2024, 4, 9, 14, 6)); // "2024-05-09 at 02:06 PM"
 * ```
 */
export function friendlyDateTime(date: Date): string {
  const hours12 = date.getHours() % 12 === 0 ? 12 : date.getHours() % 12;
  const ampm = date.getHours() < 12 ? "AM" : "PM";
  const minutes = String(date.getMinutes()).padStart(2, "0");
  return `${pythonTimestamp(date).slice(0, 10)} at ${
    String(hours12).padStart(2, "0")
  }:${minutes} ${ampm}`;
}

/** A file's start and finish, for the summaries the long-running tools print. */
export interface FileTimes {
  /** The file, as the summary names it. */
  path: string;
  /** When its work started. */
  startedAt: Date;
  /** When its work finished. */
  finishedAt: Date;
}

/**
 * Logs the closing summary of a long run: "Between <start> and <now> these
 * files were <verb>:" and one line per file with its start and finish times.
 *
 * @example
 * ```ts
 * const log = new Logger({ style: "bracket", program: "reconstruct_data_files" });
 * const runStartedAt = new Date();
 * const file = { path: "a.bin", startedAt: new Date(), finishedAt: new Date() };
 * logFileTimes(log, "reconstructed", runStartedAt, [file]);
 * ```
 */
export function logFileTimes(
  log: Logger,
  verb: string,
  since: Date,
  files: FileTimes[],
): void {
  const time = (date: Date) => pythonTimestamp(date).slice(0, 19);
  log.info(
    `Between ${time(since)} and ${time(new Date())} these files were ${verb}:`,
  );
  for (const file of files) {
    log.info(
      `  ${file.path} (started ${time(file.startedAt)}, finished ${
        time(file.finishedAt)
      })`,
    );
  }
  if (files.length === 0) log.info("  (none)");
}
