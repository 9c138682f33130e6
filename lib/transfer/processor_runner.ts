/**
 * A stream processor run in a Worker, one file at a time, each with a time
 * limit.
 *
 * JavaScript cannot cancel a promise: a processor that never settles would
 * hold its file, and the partition behind it, for ever. So the processor
 * runs in a Worker (processor_worker.ts); after `timeoutSeconds` without an
 * answer the Worker is terminated, the file fails with one line, and a fresh
 * Worker (module imported, `setup` run again) takes the next file. A
 * processor that throws, or crashes its Worker, fails that file only. The
 * Worker has the permissions the task grants.
 *
 * @example
 * ```ts
 * import { ProcessorRunner } from "./processor_runner.ts";
 * import type { DataFile } from "./processor_api.ts";
 * declare const file: DataFile;
 *
 * const runner = await ProcessorRunner.start("scripts/processors/lecroy_plots.ts", {
 *   context: { options: {}, config: "local" },
 *   timeoutSeconds: 60,
 * });
 * const result = await runner.process(file); // { ok: true } or { ok: false, reason }
 * await runner.close();
 * ```
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { UserError } from "../common/cli.ts";
import type { DataFile, ProcessorContext } from "./processor_api.ts";
import type { FromWorker, ToWorker } from "./processor_worker.ts";

/** How a processor ran on one file. */
export type ProcessResult = { ok: true } | { ok: false; reason: string };

/** What {@linkcode ProcessorRunner.start} needs. */
export interface RunnerOptions {
  /** Handed to the processor's `setup` and `processFile`. */
  context: ProcessorContext;
  /** A file whose processor has not answered after this long fails. */
  timeoutSeconds: number;
}

/** The Worker a processor runs in, restarted after a hang or a crash. */
export class ProcessorRunner {
  readonly #url: string;
  readonly #options: RunnerOptions;
  #worker!: Worker;
  /** The answer awaited now, if any: its resolve. */
  #waiting?: (answer: FromWorker) => void;
  /** Files run one after the other. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(url: string, options: RunnerOptions) {
    this.#url = url;
    this.#options = options;
  }

  /**
   * Loads the processor module at `path` in a Worker and runs its `setup`;
   * a missing file, a module that does not compile or lacks `processFile`,
   * or a `setup` that throws is a one-line `UserError`.
   */
  static async start(
    path: string,
    options: RunnerOptions,
  ): Promise<ProcessorRunner> {
    const info = await Deno.stat(path).catch(() => undefined);
    if (!info?.isFile) throw new UserError(`no processor file ${path}`);
    const runner = new ProcessorRunner(
      pathToFileURL(resolve(path)).href,
      options,
    );
    const answer = await runner.#load();
    if (answer.kind === "failed") {
      runner.#worker.terminate();
      throw new UserError(`cannot load processor ${path}: ${answer.reason}`);
    }
    return runner;
  }

  /** Starts a Worker and loads the processor in it. */
  #load(): Promise<FromWorker> {
    this.#worker = new Worker(
      new URL("./processor_worker.ts", import.meta.url),
      { type: "module" },
    );
    this.#worker.onmessage = ({ data }: MessageEvent<FromWorker>) =>
      this.#answered(data);
    // An error the processor did not catch (a rejection nobody awaited, a
    // module that does not compile) ends the Worker: the file fails.
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#answered({
        kind: "failed",
        reason: `its Worker crashed (${oneLine(event.message)})`,
      });
    };
    return this.#ask({
      kind: "load",
      url: this.#url,
      context: this.#options.context,
    }, this.#options.timeoutSeconds);
  }

  /** Hands an answer to whoever waits for it. */
  #answered(answer: FromWorker): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.(answer);
  }

  /** Sends one message and waits for its answer, at most `seconds`. */
  #ask(message: ToWorker, seconds: number): Promise<FromWorker> {
    return new Promise((done) => {
      const timer = setTimeout(
        () =>
          this.#answered({
            kind: "failed",
            reason:
              `it did not finish within ${seconds} s (--processor_timeout); stopped`,
          }),
        seconds * 1000,
      );
      this.#waiting = (answer) => {
        clearTimeout(timer);
        done(answer);
      };
      const bytes = message.kind === "file" ? message.file.bytes : undefined;
      this.#worker.postMessage(
        message,
        bytes ? [bytes.buffer as ArrayBuffer] : [],
      );
    });
  }

  /**
   * Runs the processor on `file` (its bytes are handed over, not copied);
   * after a failure other than a thrown error, the Worker is replaced.
   */
  process(file: DataFile): Promise<ProcessResult> {
    const result = this.#queue.then(async (): Promise<ProcessResult> => {
      const answer = await this.#ask(
        { kind: "file", file },
        this.#options.timeoutSeconds,
      );
      if (answer.kind !== "failed") return { ok: true };
      if (!answer.thrown) await this.#restart();
      return { ok: false, reason: answer.reason };
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Ends the Worker (hung or crashed) and loads the processor anew. */
  async #restart(): Promise<void> {
    this.#worker.terminate();
    const answer = await this.#load();
    if (answer.kind === "failed") {
      throw new UserError(`cannot reload the processor: ${answer.reason}`);
    }
  }

  /** Runs the processor's `teardown` (at most 10 s), then ends the Worker. */
  async close(): Promise<void> {
    await this.#queue;
    await this.#ask({ kind: "close" }, 10);
    this.#worker.terminate();
  }
}

/** An error event's message, in one line. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").slice(0, 500);
}

/**
 * `--processor_options`: `key=value,key2=value2` as an object (a value may
 * hold `=`, not `,`); a pair without a key is a one-line `UserError`.
 *
 * @example
 * ```ts
 * import { parseProcessorOptions } from "./processor_runner.ts";
 *
 * parseProcessorOptions("plots_dir=out/plots,x=1"); // { plots_dir: "out/plots", x: "1" }
 * ```
 */
export function parseProcessorOptions(text: string): Record<string, string> {
  const options: Record<string, string> = {};
  for (const pair of text.split(",").filter((part) => part.trim())) {
    const at = pair.indexOf("=");
    if (at < 1) {
      throw new UserError(`--processor_options: "${pair}" is not key=value`);
    }
    options[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return options;
}

/**
 * The stream processor's first flags, in `--help` order: `--processor`,
 * `--processor_options` and `--working_dir` (default `workingDir`).
 *
 * @example
 * ```ts
 * import { parseFlags } from "../common/flags.ts";
 * const { flags } = parseFlags(["--processor", "p.ts"], {
 *   program: "demo", summary: "demo", flags: processorFlags("out/demo"),
 * });
 * flags.working_dir; // "out/demo"
 * ```
 */
export function processorFlags(workingDir: string): {
  processor: { type: "string"; description: string };
  processor_options: { type: "string"; default: string; description: string };
  working_dir: { type: "string"; default: string; description: string };
} {
  return {
    processor: {
      type: "string",
      description: "the module (.ts) that exports processFile(file, context)",
    },
    processor_options: {
      type: "string",
      default: "",
      description: "settings for the processor: key=value,key2=value2",
    },
    working_dir: {
      type: "string",
      default: workingDir,
      description: "files waiting, their state and the registry of outcomes",
    },
  };
}

/**
 * The stream processor's last flags, in `--help` order: `--max_file_mb`
 * (default `maxFileMb`), `--processor_timeout` (default `timeoutSeconds`)
 * and `--retry_failed`.
 *
 * @example
 * ```ts
 * import { parseFlags } from "../common/flags.ts";
 * const { flags } = parseFlags(["--retry_failed"], {
 *   program: "demo", summary: "demo", flags: processorLimitFlags(64, 300),
 * });
 * flags.processor_timeout; // 300
 * ```
 */
export function processorLimitFlags(
  maxFileMb: number,
  timeoutSeconds: number,
): {
  max_file_mb: {
    type: "number";
    default: number;
    min: number;
    description: string;
  };
  processor_timeout: {
    type: "number";
    default: number;
    min: number;
    description: string;
  };
  retry_failed: { type: "boolean"; description: string };
} {
  return {
    max_file_mb: {
      type: "number",
      default: maxFileMb,
      min: 0,
      description:
        "files up to this many MiB come in memory, bigger ones as a path",
    },
    processor_timeout: {
      type: "number",
      default: timeoutSeconds,
      min: 0.001,
      description: "a file whose processor takes longer (seconds) fails",
    },
    retry_failed: {
      type: "boolean",
      description: "run the files that failed before again, first",
    },
  };
}
