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
 * arrive. At 3 s some inserts wait too long, and their rows are lost; which
 * process gets the lock first, and so which rows, varies from run to run.
 *
 * The workers do not print log lines themselves (see `tell`): each step goes
 * to the parent as one line of JSON, and the parent prints them in time order.
 * `asks for the lock` is logged before each INSERT, `got the lock after ...`
 * when SQLite let it in, `gave up ... database is locked` when the busy
 * timeout ran out. Ctrl-C stops the workers (what they hold is rolled back),
 * then the parent counts the rows saved so far, draws the timeline up to
 * then, and exits 130.
 *
 * Try changing TASK_DURATION_SECONDS (the TODO), then `--processes 10
 * --records_per_process 5`, then each `--remedy` (marked "Remedy" below).
 * Exit code 0, also when rows are lost without a remedy (that loss is the
 * lesson); 1 when a remedy loses a row or a worker process fails.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { describeError, runMain, UserError } from "../lib/common/cli.ts";
import { Logger } from "../lib/common/log.ts";
import { runDenoScript } from "../lib/common/processes.ts";
import * as shutdown from "../lib/common/shutdown.ts";
import * as lockEvents from "../lib/course/lock_events.ts";
import type { LockEventKind } from "../lib/course/lock_events.ts";
import type { PetsWorker as Worker } from "../lib/course/pets_settings.ts";
import { TimeOrderedLog } from "../lib/course/time_ordered_log.ts";
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

/** Reports one step to the parent: one line of JSON (see the header). */
function tell(worker: Worker, kind: LockEventKind, pet: string, text: string) {
  lockEvents.tellParent(worker.number, kind, pet, text);
}

/** One try on a new connection: BEGIN, INSERT, the slow task, COMMIT. */
async function insertOnce(worker: Worker, pet: pets.Pet): Promise<void> {
  const { settings, stop } = worker;
  const { name } = pet;
  const taskMs = settings.taskDurationSeconds * 1000;
  // Remedy "short_transactions": do the slow task first, holding no lock.
  const short = settings.remedy === "short_transactions";
  if (short) tell(worker, "work", name, `does the slow task for ${name}.`);
  if (short) await shutdown.sleep(taskMs, stop.signal);
  // Remedy "wait_longer": a busy timeout long enough for everyone's turn.
  const busyTimeoutMs = settings.remedy === "wait_longer"
    ? Math.max(settings.busyTimeoutMs, pets.everyonesTurnMs(settings))
    : settings.busyTimeoutMs;
  // A new connection, which waits up to busyTimeoutMs for a busy lock.
  const db = new DatabaseSync(settings.dbPath, { timeout: busyTimeoutMs });
  try {
    const askedAt = Date.now();
    tell(worker, "ask", name, `asks for the lock to insert ${name}.`);
    db.exec("BEGIN");
    // The first write takes the lock; a busy lock makes this line wait (the
    // whole process waits: node:sqlite is synchronous).
    // Bound parameters (?): a name like O'Malley cannot break the SQL.
    db.prepare("INSERT INTO pets (name, breed) VALUES (?, ?)")
      .run(name, pet.breed);
    const lockedAt = Date.now();
    const waited = lockEvents.secondsSince(askedAt);
    tell(worker, "lock", name, `got the lock for ${name} after ${waited}.`);
    // The slow task, holding the lock; Ctrl-C cuts it short.
    if (!short) await shutdown.sleep(taskMs, stop.signal);
    // After Ctrl-C the row is rolled back below, never committed.
    if (stop.signal.aborted) return;
    db.exec("COMMIT"); // the row is saved, the lock released
    const held = lockEvents.secondsSince(lockedAt);
    tell(worker, "commit", name, `committed ${name}, held the lock ${held}.`);
  } finally {
    if (db.isTransaction) db.exec("ROLLBACK"); // let go of the lock
    db.close();
  }
}

/** Inserts one pet; a SQLite error is logged and the next pet goes on. */
async function insertPet(worker: Worker, pet: pets.Pet): Promise<void> {
  const { settings, stop } = worker;
  tell(worker, "note", pet.name, `Called insertPet() with ${pet.name}.`);
  // Remedy "retry": when the lock is busy, back off a random while and try
  // again, until every other insert has surely had its turn.
  const deadline = Date.now() + pets.everyonesTurnMs(settings);
  for (let attempt = 1;; attempt++) {
    const askedAt = Date.now();
    try {
      return await insertOnce(worker, pet);
    } catch (error) {
      if ((error as { code?: string }).code !== "ERR_SQLITE_ERROR") throw error;
      const busy = (error as { errcode?: number }).errcode === SQLITE_BUSY;
      const gaveUp = `gave up on ${pet.name} after ${
        lockEvents.secondsSince(askedAt)
      }: ${describeError(error)}`;
      // Doubling waits with jitter, so that colliding processes spread out.
      const capMs = Math.min(1000, 50 * 2 ** attempt); // up to 1 s
      const backoffMs = Math.round(capMs * (0.5 + Math.random() / 2));
      const retry = busy && settings.remedy === "retry" &&
        Date.now() + backoffMs < deadline;
      if (!retry) return tell(worker, "fail", pet.name, `${gaveUp}.`);
      const again = `; retry ${attempt} in ${backoffMs} ms.`;
      tell(worker, "retry", pet.name, gaveUp + again);
      await shutdown.sleep(backoffMs, stop.signal);
      if (stop.signal.aborted) return;
    }
  }
}

/** Process N (P1, P2, ...): inserts its pets one after another. */
async function runProcess(number: number, settings: pets.PetsSettings) {
  // Ctrl-C reaches every process: a worker ends its step and stops.
  const worker = { number, settings, stop: shutdown.listenForShutdown() };
  tell(worker, "note", "", `Called runProcess(${number}).`);
  const plan = pets.planPets(PETS_BY_PROCESS, settings);
  for (const pet of plan[number - 1]) {
    await insertPet(worker, pet);
    if (!worker.stop.signal.aborted) continue;
    const why = `stopped by ${worker.stop.reason}`;
    tell(worker, "stop", pet.name, `${why}; ${pet.name} rolled back.`);
    return 130;
  }
}

/** Starts process N: a new `deno` running this same file with --worker N. */
function startProcess(
  number: number,
  settings: pets.PetsSettings,
  printer: TimeOrderedLog,
  events: lockEvents.LockEvent[],
  stop: AbortSignal,
): Promise<number> {
  return runDenoScript({
    script: fileURLToPath(import.meta.url),
    args: pets.workerArgs(settings, number),
    // The worker may touch the database file and nothing else. (SQLite
    // itself creates its journal file next to it.)
    allowRead: [settings.dbPath],
    allowWrite: [settings.dbPath],
    // Each step (see tell) is printed in time order and kept for the timeline.
    onLine: lockEvents.relayLockEvents(number, events, printer),
    // Ctrl-C: each worker gets SIGINT; one still stuck in a busy wait 2 s
    // later is killed, and SQLite rolls back what it had begun.
    signal: stop,
  });
}

/** Counts the rows really in the table and names the missing ones. */
function reportRows(log: Logger, settings: pets.PetsSettings, stop?: string) {
  const db = new DatabaseSync(settings.dbPath, { timeout: BUSY_TIMEOUT_MS });
  const rows = db.prepare("SELECT name, breed FROM pets").all()
    .map((row) => ({ name: String(row.name), breed: String(row.breed) }));
  db.close();
  const expected = pets.planPets(PETS_BY_PROCESS, settings).flat();
  return report.reportPetRows(log, settings.remedy, expected, rows, stop);
}

/** The parent: a fresh table, the worker processes, the count, the timeline. */
async function runParent(settings: pets.PetsSettings): Promise<number> {
  const log = new Logger({ tee: settings.output });
  const title = report.logStart(log, settings); // the banner, the run's title
  recreateDatabase(log, settings.dbPath);
  // From here on Ctrl-C does not kill the parent: it stops the workers, then
  // counts the rows and draws the timeline up to that moment.
  const stop = shutdown.listenForShutdown();
  const events: lockEvents.LockEvent[] = [];
  const printer = new TimeOrderedLog(log);
  // Start every process first, then wait for each in the order they started.
  const exits = Array.from(
    { length: settings.processes },
    (_, i) => startProcess(i + 1, settings, printer, events, stop.signal),
  );
  const processesOk = await report.awaitWorkers(exits, printer, stop.signal);
  // Every worker has ended: nothing writes to the table any more.
  printer.flush();
  const allSaved = reportRows(log, settings, stop.reason);
  await report.showLockTimeline(log, settings.timelinePath, events, title);
  log.close();
  if (stop.signal.aborted) return 130; // 128 + SIGINT, as shells expect
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
    return await runProcess(settings.worker, settings);
  });
}
