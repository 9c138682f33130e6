/**
 * The settings of the multiple_processes lesson: its flags, and how the parent
 * process hands them on to each worker process.
 *
 * The script keeps its defaults as constants at its top (where students change
 * them); this module turns the command line into {@linkcode PetsSettings} and
 * back into arguments for a worker. A worker is the same script started with
 * `--worker N`, a flag that only parents pass and that `--help` does not show.
 *
 * @example
 * ```ts
 * import { parsePetsSettings, workerArgs } from "./pets_settings.ts";
 *
 * const settings = parsePetsSettings(["--task-duration", "3"], {
 *   taskDurationSeconds: 0,
 *   busyTimeoutMs: 5000,
 *   processes: 3,
 *   recordsPerProcess: 2,
 *   dbPath: "out/shared.db",
 * });
 * settings.taskDurationSeconds; // 3
 * workerArgs(settings, 2); // ["--worker=2", "--task_duration=3", ...]
 * ```
 *
 * @module
 */
import { type FlagDef, parseFlags } from "../common/flags.ts";
import { everyonesTurnMs, REMEDIES, type Remedy } from "./remedies.ts";

/** The script's constants, used when a flag is not given. */
export interface PetsDefaults {
  /** How long each insert holds the write lock (`--task_duration`). */
  taskDurationSeconds: number;
  /** How long a connection waits for the lock (`--busy_timeout`). */
  busyTimeoutMs: number;
  /** How many worker processes start (`--processes`). */
  processes: number;
  /** How many pets each process inserts (`--records_per_process`). */
  recordsPerProcess: number;
  /** The SQLite file (`--db`). */
  dbPath: string;
}

/** One run's settings, from the defaults and the flags. */
export interface PetsSettings extends PetsDefaults {
  /** Also write everything printed to this file. */
  output?: string;
  /** A fix to try; `none` behaves like the original. */
  remedy: Remedy;
  /** Only in a worker process: which process it is (1 for P1, ...). */
  worker?: number;
}

const SUMMARY =
  "Several processes insert pets into one SQLite database at the same time.";

/** The flags, with the defaults given by the script. */
function flagSpec(defaults: PetsDefaults) {
  return {
    task_duration: {
      type: "number",
      default: defaults.taskDurationSeconds,
      min: 0,
      description: "seconds each insert holds the write lock",
    },
    busy_timeout: {
      type: "number",
      default: defaults.busyTimeoutMs,
      integer: true,
      min: 0,
      description: "milliseconds a connection waits for the lock",
    },
    processes: {
      type: "number",
      default: defaults.processes,
      integer: true,
      min: 1,
      description: "how many worker processes to start",
    },
    records_per_process: {
      type: "number",
      default: defaults.recordsPerProcess,
      integer: true,
      min: 1,
      description: "how many pets each process inserts",
    },
    db: {
      type: "string",
      default: defaults.dbPath,
      description: "the SQLite database file (inside out/)",
    },
    output: {
      type: "string",
      description: "also write everything printed to this file (inside out/)",
    },
    remedy: {
      type: "string",
      default: "none",
      choices: REMEDIES,
      description: "a fix for the lost rows",
    },
  } satisfies Record<string, FlagDef>;
}

/**
 * Reads the flags (snake_case or kebab-case). `--help` prints them and exits;
 * a bad flag throws a UsageError (exit code 2).
 *
 * @example
 * ```ts
 * const s = parsePetsSettings(Deno.args, DEFAULTS);
 * if (s.worker === undefined) console.log("I am the parent");
 * ```
 */
export function parsePetsSettings(
  args: string[],
  defaults: PetsDefaults,
): PetsSettings {
  const program = "multiple_processes";
  const flags = flagSpec(defaults);
  let worker: number | undefined;
  let values;
  const isWorker = args.some((arg) =>
    arg === "--worker" || arg.startsWith("--worker=")
  );
  if (isWorker) {
    const workerFlag: FlagDef = {
      type: "number",
      integer: true,
      min: 1,
      description: "run as worker process N",
    };
    const parsed = parseFlags(args, {
      program,
      summary: SUMMARY,
      flags: { ...flags, worker: workerFlag },
    });
    values = parsed.flags;
    worker = Number(parsed.flags.worker);
  } else {
    values = parseFlags(args, { program, summary: SUMMARY, flags }).flags;
  }
  return {
    taskDurationSeconds: values.task_duration,
    busyTimeoutMs: values.busy_timeout,
    processes: values.processes,
    recordsPerProcess: values.records_per_process,
    dbPath: values.db,
    output: values.output,
    remedy: values.remedy as Remedy,
    worker,
  };
}

/**
 * The arguments that start worker `n` with the same settings. The output file
 * is left out: the parent copies the workers' lines into it.
 *
 * @example
 * ```ts
 * workerArgs(settings, 1);
 * // ["--worker=1", "--task_duration=0", "--busy_timeout=5000", "--processes=3",
 * //  "--records_per_process=2", "--db=out/shared.db", "--remedy=none"]
 * ```
 */
export function workerArgs(settings: PetsSettings, n: number): string[] {
  return [
    `--worker=${n}`,
    `--task_duration=${settings.taskDurationSeconds}`,
    `--busy_timeout=${settings.busyTimeoutMs}`,
    `--processes=${settings.processes}`,
    `--records_per_process=${settings.recordsPerProcess}`,
    `--db=${settings.dbPath}`,
    `--remedy=${settings.remedy}`,
  ];
}

/**
 * The longest any insert of a run may have to wait: all inserts, one by one
 * (what the `wait_longer` and `retry` remedies wait for at most).
 *
 * @example
 * ```ts
 * everyonesTurnFor(settings); // 23000 for 3 x 2 inserts of 3 s
 * ```
 */
export function everyonesTurnFor(settings: PetsSettings): number {
  const inserts = settings.processes * settings.recordsPerProcess;
  return everyonesTurnMs(inserts, settings.taskDurationSeconds * 1000);
}
