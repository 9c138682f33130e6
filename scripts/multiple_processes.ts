/**
 * Multiple processes, one SQLite database: where "database is locked" comes from.
 *
 * Run it (assignment tasks 5 to 7):
 *
 *     deno task multiple_processes
 *     deno task multiple_processes --task_duration 3 --output out/out3.txt
 *     deno task multiple_processes --task_duration 3 --remedy retry
 *
 * Permissions, and why (the task in deno.json grants exactly these):
 *
 * - `--allow-read=out --allow-write=out`: the database, `--output` and the lock
 *   timeline live in out/; nothing else on your disk can be touched.
 * - `--allow-run`: to start the workers, this same file run by the same `deno`
 *   (Deno.execPath()); each may only read and write the database.
 * - `--allow-sys=osRelease`: the banner shows your operating system's release.
 *
 * Three real OS processes (P1, P2, P3) each insert two pets into one table,
 * each insert in its own transaction on a new connection (see insertOnce):
 * BEGIN, INSERT (SQLite takes the write lock here), the slow task, COMMIT
 * (the lock is released). Everybody else waits for the lock up to the busy
 * timeout (5 s) and then fails with "database is locked". At 0 s all six rows
 * arrive. At 3 s some inserts wait too long, and their rows are lost.
 *
 * Try changing TASK_DURATION_SECONDS (the TODO), then `--processes 10
 * --records_per_process 5`, then each `--remedy` (the three are marked
 * "Remedy" below). Each run ends by counting the rows really in the table and
 * drawing the lock timeline (console and out/lock_timeline.svg). Exit code 0,
 * also when rows are lost without a remedy (that loss is the lesson); 1 when a
 * remedy loses a row or a worker process fails.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { describeError, runMain, UserError } from "../lib/common/cli.ts";
import { Logger } from "../lib/common/log.ts";
import { runDenoScript } from "../lib/common/processes.ts";
import { sleep } from "../lib/common/shutdown.ts";
import * as lockEvents from "../lib/course/lock_events.ts";
import type { LockEventKind } from "../lib/course/lock_events.ts";
import * as pets from "../lib/course/pets_settings.ts";
import * as report from "../lib/course/pets_report.ts";

// TODO: Change this to 3 and run again: each insert then holds the lock 3 s.
const TASK_DURATION_SECONDS = 0;
const DB_PATH = "out/shared.db";
const TIMELINE_PATH = "out/lock_timeline.svg";
// How long a connection waits for the lock: Python's default (node:sqlite: 0).
const BUSY_TIMEOUT_MS = 5000;
const PROCESSES = 3;
const RECORDS_PER_PROCESS = 2;
// What P1, P2 and P3 insert. More processes or records get generated pets.
const PETS_BY_PROCESS: pets.Pet[][] = [
  [{ name: "Ace", breed: "Dog" }, { name: "Buddy", breed: "Dog" }],
  [{ name: "Cooper", breed: "Rabbit" }, { name: "Dingo", breed: "Dog" }],
  [{ name: "Emma", breed: "Rabbit" }, { name: "Felix", breed: "Cat" }],
];
// SQLite's result code for "database is locked" (SQLITE_BUSY).
const SQLITE_BUSY = 5;

/** Starts from an empty `pets` table. */
function recreateDatabase(log: Logger, dbPath: string): void {
  log.info(`Called recreateDatabase(): DROP and CREATE TABLE pets.`);
  try {
    const db = new DatabaseSync(dbPath, { timeout: BUSY_TIMEOUT_MS });
    db.exec("DROP TABLE IF EXISTS pets");
    db.exec(
      "CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, breed TEXT)",
    );
    db.close();
  } catch (error) {
    const why = `${describeError(error)} (this task may only use out/)`;
    throw new UserError(`cannot open ${dbPath}: ${why}`);
  }
}

/** The longest any insert may wait: all inserts one by one, plus 5 s. */
function everyonesTurnMs(settings: pets.PetsSettings): number {
  const inserts = settings.processes * settings.recordsPerProcess;
  return inserts * settings.taskDurationSeconds * 1000 + 5000;
}

/** A worker process: its number (1 for P1), the settings, its log. */
interface Worker {
  number: number;
  settings: pets.PetsSettings;
  log: Logger;
}

/** Tells the parent, on stdout, what this worker did with the lock now. */
function reportEvent(worker: Worker, kind: LockEventKind, pet: pets.Pet) {
  const event = { process: worker.number, kind, pet: pet.name, at: Date.now() };
  console.log(lockEvents.formatLockEvent(event));
}

/** One try on a new connection: BEGIN, INSERT, the slow task, COMMIT. */
async function insertOnce(worker: Worker, pet: pets.Pet): Promise<void> {
  const { settings, log, number } = worker;
  const taskMs = settings.taskDurationSeconds * 1000;
  // Remedy "short_transactions": do the slow task first, holding no lock.
  const short = settings.remedy === "short_transactions";
  if (short) reportEvent(worker, "work", pet);
  if (short) await sleep(taskMs);
  // Remedy "wait_longer": a busy timeout long enough for everyone's turn.
  const busyTimeoutMs = settings.remedy === "wait_longer"
    ? Math.max(settings.busyTimeoutMs, everyonesTurnMs(settings))
    : settings.busyTimeoutMs;
  // A new connection, which waits up to busyTimeoutMs for a busy lock.
  const db = new DatabaseSync(settings.dbPath, { timeout: busyTimeoutMs });
  try {
    log.info(`P${number}: insertOnce() waits for the lock: ${pet.name}.`);
    reportEvent(worker, "wait", pet);
    db.exec("BEGIN");
    // The first write takes the lock; a busy lock makes this line wait.
    // Bound parameters (?): a name like O'Malley cannot break the SQL.
    db.prepare("INSERT INTO pets (name, breed) VALUES (?, ?)")
      .run(pet.name, pet.breed);
    reportEvent(worker, "lock", pet);
    if (!short) await sleep(taskMs); // the slow task, holding the lock
    db.exec("COMMIT"); // the row is saved, the lock released
    reportEvent(worker, "commit", pet);
    log.info(`P${number}: insertOnce() committed ${pet.name}.`);
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK"); // let go of the lock
    throw error;
  } finally {
    db.close();
  }
}

/** Inserts one pet; a SQLite error is logged and the next pet goes on. */
async function insertPet(worker: Worker, pet: pets.Pet): Promise<void> {
  const { settings, log, number } = worker;
  log.info(`P${number}: Called insertPet() with ${pet.name}, ${pet.breed}.`);
  // Remedy "retry": when the lock is busy, back off a random while and try
  // again, until every other insert has surely had its turn.
  const deadline = Date.now() + everyonesTurnMs(settings);
  for (let attempt = 1;; attempt++) {
    try {
      return await insertOnce(worker, pet);
    } catch (error) {
      const busy = (error as { errcode?: number }).errcode === SQLITE_BUSY;
      // Doubling waits with jitter, so that colliding processes spread out.
      const backoffMs = Math.round(
        Math.min(1000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2),
      );
      if (
        busy && settings.remedy === "retry" && Date.now() + backoffMs < deadline
      ) {
        reportEvent(worker, "retry", pet);
        log.warn(
          `P${number}: insertPet() found the database locked ` +
            `inserting ${pet.name}; retry ${attempt} in ${backoffMs} ms.`,
        );
        await sleep(backoffMs);
        continue;
      }
      if ((error as { code?: string }).code !== "ERR_SQLITE_ERROR") throw error;
      reportEvent(worker, "fail", pet);
      log.error(
        `P${number}: insertPet() gave up on ${pet.name}: ` +
          describeError(error),
      );
      return;
    }
  }
}

/** Process N (P1, P2, ...): inserts its pets one after another. */
async function runProcess(number: number, settings: pets.PetsSettings) {
  const worker = { number, settings, log: new Logger() };
  worker.log.info(`P${number}: Called runProcess(${number}).`);
  const plan = pets.planPets(PETS_BY_PROCESS, settings);
  for (const pet of plan[number - 1]) await insertPet(worker, pet);
}

/** Starts process N: a new `deno` running this same file with --worker N. */
function startProcess(
  number: number,
  settings: pets.PetsSettings,
  log: Logger,
  events: lockEvents.LockEvent[],
): Promise<number> {
  return runDenoScript({
    script: fileURLToPath(import.meta.url),
    args: pets.workerArgs(settings, number),
    // The worker may touch the database file and nothing else. (SQLite
    // itself creates its journal file next to it.)
    allowRead: [settings.dbPath],
    allowWrite: [settings.dbPath],
    // Event lines feed the timeline; every other line is logged whole.
    onLine: lockEvents.collectLockEvents(events, (line) => log.print(line)),
  });
}

/** Counts the rows really in the table and names the missing ones. */
function reportRows(log: Logger, settings: pets.PetsSettings): boolean {
  const db = new DatabaseSync(settings.dbPath, { timeout: BUSY_TIMEOUT_MS });
  const rows = db.prepare("SELECT name, breed FROM pets").all()
    .map((row) => ({ name: String(row.name), breed: String(row.breed) }));
  db.close();
  const expected = pets.planPets(PETS_BY_PROCESS, settings).flat();
  return report.reportPetRows(log, settings.remedy, expected, rows);
}

/** The parent: a fresh table, the worker processes, the count, the timeline. */
async function runParent(settings: pets.PetsSettings): Promise<number> {
  const log = new Logger({ tee: settings.output });
  const title = report.runTitle(settings);
  log.info(report.startBanner());
  log.info(`${title}.`);
  recreateDatabase(log, settings.dbPath);
  // Start every process first, then wait for each in the order they started.
  const events: lockEvents.LockEvent[] = [];
  const exits = Array.from(
    { length: settings.processes },
    (_, i) => startProcess(i + 1, settings, log, events),
  );
  let processesOk = true;
  for (const [i, exit] of exits.entries()) {
    const code = await exit;
    if (code !== 0) log.error(`Process P${i + 1} failed (exit code ${code}).`);
    processesOk &&= code === 0;
  }
  const allSaved = reportRows(log, settings);
  await report.showLockTimeline(log, settings.timelinePath, events, title);
  log.close();
  return processesOk && (allSaved || settings.remedy === "none") ? 0 : 1;
}

// Execution starts here. A worker process is this same file with --worker N.
if (import.meta.main) {
  await runMain("multiple_processes", async () => {
    const settings = pets.parsePetsSettings(Deno.args, {
      taskDurationSeconds: TASK_DURATION_SECONDS,
      busyTimeoutMs: BUSY_TIMEOUT_MS,
      processes: PROCESSES,
      recordsPerProcess: RECORDS_PER_PROCESS,
      dbPath: DB_PATH,
      timelinePath: TIMELINE_PATH,
    });
    if (settings.worker === undefined) return await runParent(settings);
    await runProcess(settings.worker, settings);
  });
}
