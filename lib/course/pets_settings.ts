/**
 * The settings of the multiple_processes lesson: its flags, how the parent
 * hands them on to each worker process, and which pets each process inserts.
 * The SQL and the remedies are the lesson, and stay in the script.
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
 *   timelinePath: "out/lock_timeline.svg",
 * });
 * settings.taskDurationSeconds; // 3
 * workerArgs(settings, 2); // ["--worker=2", "--task_duration=3", ...]
 * ```
 *
 * @module
 */
import { type FlagDef, parseFlags } from "../common/flags.ts";
import type { ShutdownSignal } from "../common/shutdown.ts";

/** The remedies `--remedy` accepts; `none` is the original's behaviour. */
export const REMEDIES = [
  "none",
  "short_transactions",
  "wait_longer",
  "retry",
] as const;

/** One of {@linkcode REMEDIES}. */
export type Remedy = (typeof REMEDIES)[number];

/** One pet, as a process inserts it. */
export interface Pet {
  /** Unique within a run, so that a missing row can be named. */
  name: string;
  /** Dog, Rabbit, Cat, ... */
  breed: string;
}

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
  /** The lock timeline picture (`--timeline`). */
  timelinePath: string;
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

/** What a worker process works with: its number, the settings, Ctrl-C. */
export interface PetsWorker {
  /** Which process it is: 1 for P1. */
  number: number;
  /** The run's settings, as the parent handed them on. */
  settings: PetsSettings;
  /** Ctrl-C (SIGINT) or SIGTERM: the worker ends its step and stops. */
  stop: ShutdownSignal;
}

const SUMMARY =
  "Several processes insert pets into one SQLite database at the same time.";

/** Breeds for generated pets, in turn. */
const GENERATED_BREEDS = ["Dog", "Rabbit", "Cat"] as const;

/** The flags, with the defaults given by the script. */
function flagSpec(defaults: PetsDefaults) {
  const count = { type: "number", integer: true, min: 1 } as const;
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
      ...count,
      default: defaults.processes,
      description: "how many worker processes to start",
    },
    records_per_process: {
      ...count,
      default: defaults.recordsPerProcess,
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
    timeline: {
      type: "string",
      default: defaults.timelinePath,
      description: "the lock timeline picture (SVG, inside out/)",
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
 * Reads the flags (snake_case or kebab-case). `--help` ends the run through
 * `runMain`; a bad flag throws a UsageError (exit code 2).
 *
 * @example
 * ```ts
 * const settings = parsePetsSettings(Deno.args, {
 *   taskDurationSeconds: 0, busyTimeoutMs: 5000, processes: 3,
 *   recordsPerProcess: 2, dbPath: "out/shared.db", timelinePath: "out/lock_timeline.svg",
 * });
 * if (settings.worker === undefined) console.log("I am the parent");
 * ```
 */
export function parsePetsSettings(
  args: string[],
  defaults: PetsDefaults,
): PetsSettings {
  const flags = {
    ...flagSpec(defaults),
    // Only parents pass --worker to their children; --help does not show it.
    worker: {
      type: "number",
      integer: true,
      min: 1,
      hidden: true,
      description: "run as worker process N",
    },
  } satisfies Record<string, FlagDef>;
  const parsed = parseFlags(args, {
    program: "multiple_processes",
    summary: SUMMARY,
    flags,
  });
  const values = parsed.flags;
  return {
    taskDurationSeconds: values.task_duration,
    busyTimeoutMs: values.busy_timeout,
    processes: values.processes,
    recordsPerProcess: values.records_per_process,
    dbPath: values.db,
    timelinePath: values.timeline,
    output: values.output,
    remedy: values.remedy,
    worker: values.worker,
  };
}

/**
 * The arguments that start worker `processNumber` with the same settings.
 * The output file is left out: the parent copies the workers' lines into it.
 *
 * @example
 * ```ts
 * const settings = parsePetsSettings([], {
 *   taskDurationSeconds: 0, busyTimeoutMs: 5000, processes: 3,
 *   recordsPerProcess: 2, dbPath: "out/shared.db", timelinePath: "out/lock_timeline.svg",
 * });
 * workerArgs(settings, 1);
 * // ["--worker=1", "--task_duration=0", "--busy_timeout=5000", "--processes=3",
 * //  "--records_per_process=2", "--db=out/shared.db", "--remedy=none"]
 * ```
 */
export function workerArgs(
  settings: PetsSettings,
  processNumber: number,
): string[] {
  return [
    `--worker=${processNumber}`,
    `--task_duration=${settings.taskDurationSeconds}`,
    `--busy_timeout=${settings.busyTimeoutMs}`,
    `--processes=${settings.processes}`,
    `--records_per_process=${settings.recordsPerProcess}`,
    `--db=${settings.dbPath}`,
    `--remedy=${settings.remedy}`,
  ];
}

/**
 * The pets each process inserts: the given lists where they reach, generated
 * pets (`Pet4-1`, `Pet4-2`, ...) for further processes and records.
 *
 * @example
 * ```ts
 * planPets([[{ name: "Ace", breed: "Dog" }]], { processes: 2, recordsPerProcess: 1 });
 * // [[{ name: "Ace", breed: "Dog" }], [{ name: "Pet2-1", breed: "Rabbit" }]]
 * ```
 */
export function planPets(
  given: Pet[][],
  { processes, recordsPerProcess }: Pick<
    PetsSettings,
    "processes" | "recordsPerProcess"
  >,
): Pet[][] {
  return Array.from(
    { length: processes },
    (_, p) =>
      Array.from({ length: recordsPerProcess }, (_, r) =>
        given[p]?.[r] ?? {
          name: `Pet${p + 1}-${r + 1}`,
          breed: GENERATED_BREEDS[(p + r) % GENERATED_BREEDS.length],
        }),
  );
}

/**
 * The longest any insert may wait for its turn: every insert of the run one
 * after another, each holding the lock for the task duration, plus 5 s. The
 * remedies `wait_longer` (as the busy timeout) and `retry` (as the deadline)
 * use it.
 *
 * @example
 * ```ts
 * everyonesTurnMs({ processes: 3, recordsPerProcess: 2, taskDurationSeconds: 3 });
 * // 23000
 * ```
 */
export function everyonesTurnMs(
  settings: Pick<
    PetsSettings,
    "processes" | "recordsPerProcess" | "taskDurationSeconds"
  >,
): number {
  const inserts = settings.processes * settings.recordsPerProcess;
  return inserts * settings.taskDurationSeconds * 1000 + 5000;
}

/**
 * The pets that are expected but not in `rows` (matched by name and breed).
 *
 * @example
 * ```ts
 * findMissingPets([{ name: "Ace", breed: "Dog" }], []); // [{ name: "Ace", breed: "Dog" }]
 * ```
 */
export function findMissingPets(expected: Pet[], rows: Pet[]): Pet[] {
  const present = new Set(rows.map((row) => `${row.name}\n${row.breed}`));
  return expected.filter((pet) => !present.has(`${pet.name}\n${pet.breed}`));
}
