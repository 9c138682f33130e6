/**
 * The shared SQLite database of the multiple_processes lesson: one table of
 * pets, written by several processes at once.
 *
 * Built on `node:sqlite` (the JSR package `@db/sqlite` is not reachable from
 * the course machines). Two facts about it matter for the lesson:
 *
 * - Its busy timeout defaults to 0 ms: a writer that finds the database locked
 *   fails at once. Python's `sqlite3` waits 5 s. {@linkcode openPetsDb} always
 *   sets the timeout explicitly, so the port behaves like the original.
 * - SQLite takes the write lock at the first INSERT of a transaction and keeps
 *   it until COMMIT. {@linkcode insertPetInTransaction} waits inside the
 *   transaction to stand for slow work, so that everybody else has to wait too.
 *
 * @example
 * ```ts
 * import { createPetsTable, insertPetInTransaction, openPetsDb, readPets } from "./pets_db.ts";
 *
 * const db = openPetsDb("out/shared.db", 5000);
 * createPetsTable(db);
 * await insertPetInTransaction(db, { name: "Ace", breed: "Dog" }, 0);
 * db.close();
 * readPets("out/shared.db"); // [{ id: 1, name: "Ace", breed: "Dog" }]
 * ```
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { sleep } from "../common/shutdown.ts";

/** One pet, as a process inserts it. */
export interface Pet {
  /** Unique within a run, so that a missing row can be named. */
  name: string;
  /** Dog, Rabbit, Cat, ... */
  breed: string;
}

/** One row of the `pets` table. */
export interface PetRow extends Pet {
  /** SQLite's INTEGER PRIMARY KEY: the order the rows were committed in. */
  id: number;
}

/** SQLite's result code for "database is locked" (SQLITE_BUSY). */
export const SQLITE_BUSY = 5;

/** Breeds for generated pets, in turn. */
const GENERATED_BREEDS = ["Dog", "Rabbit", "Cat"] as const;

/**
 * Opens a new connection that waits up to `busyTimeoutMs` for a lock.
 *
 * @example
 * ```ts
 * const db = openPetsDb("out/shared.db", 5000); // Python's default wait
 * db.close();
 * ```
 */
export function openPetsDb(path: string, busyTimeoutMs: number): DatabaseSync {
  try {
    return new DatabaseSync(path, { timeout: busyTimeoutMs });
  } catch (error) {
    // Deno's own refusal reads like a bug report; say what the rule is.
    if (error instanceof Deno.errors.NotCapable) {
      throw new Deno.errors.NotCapable("this task may only write in out/");
    }
    throw error;
  }
}

/**
 * Drops the `pets` table if it is there.
 *
 * @example
 * ```ts
 * dropPetsTable(openPetsDb("out/shared.db", 5000));
 * ```
 */
export function dropPetsTable(db: DatabaseSync): void {
  db.exec("DROP TABLE IF EXISTS pets");
}

/**
 * Creates the empty `pets` table.
 *
 * @example
 * ```ts
 * createPetsTable(openPetsDb("out/shared.db", 5000));
 * ```
 */
export function createPetsTable(db: DatabaseSync): void {
  db.exec("CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, breed TEXT)");
}

/**
 * Inserts one pet in an explicit transaction and keeps the write lock for
 * `holdLockMs` before committing. On any error the transaction is rolled
 * back (releasing the lock) and the error is thrown again.
 *
 * @example
 * ```ts
 * const db = openPetsDb("out/shared.db", 5000);
 * await insertPetInTransaction(db, { name: "Ace", breed: "Dog" }, 3000);
 * db.close();
 * ```
 */
export async function insertPetInTransaction(
  db: DatabaseSync,
  pet: Pet,
  holdLockMs: number,
): Promise<void> {
  try {
    db.exec("BEGIN");
    // Bound parameters: a name like O'Malley cannot break the SQL.
    db.prepare("INSERT INTO pets (name, breed) VALUES (?, ?)")
      .run(pet.name, pet.breed);
    await sleep(holdLockMs);
    db.exec("COMMIT");
  } catch (error) {
    if (db.isOpen && db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

/**
 * Reads every row of the `pets` table, in insertion order.
 *
 * @example
 * ```ts
 * readPets("out/shared.db").map((row) => row.name); // ["Ace", "Cooper", ...]
 * ```
 */
export function readPets(path: string, busyTimeoutMs = 5000): PetRow[] {
  const db = openPetsDb(path, busyTimeoutMs);
  try {
    const rows = db.prepare("SELECT id, name, breed FROM pets ORDER BY id")
      .all();
    return rows.map((row) => ({
      id: Number(row.id),
      name: String(row.name),
      breed: String(row.breed),
    }));
  } finally {
    db.close();
  }
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

/**
 * The pets each process inserts: the given lists where they reach, generated
 * pets (`Pet4-1`, `Pet4-2`, ...) for further processes and records.
 *
 * @example
 * ```ts
 * planPets([[{ name: "Ace", breed: "Dog" }]], 2, 1);
 * // [[{ name: "Ace", breed: "Dog" }], [{ name: "Pet2-1", breed: "Rabbit" }]]
 * ```
 */
export function planPets(
  given: Pet[][],
  processes: number,
  recordsPerProcess: number,
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
 * Tells whether `error` is SQLite's "database is locked" (errcode 5).
 *
 * @example
 * ```ts
 * try { db.exec("BEGIN IMMEDIATE"); } catch (error) { if (!isBusyError(error)) throw error; }
 * ```
 */
export function isBusyError(error: unknown): error is Error {
  return error instanceof Error &&
    (error as { errcode?: number }).errcode === SQLITE_BUSY;
}

/**
 * Tells whether `error` came from SQLite (as opposed to a bug in our code).
 *
 * @example
 * ```ts
 * isSqliteError(new Error("x")); // false
 * ```
 */
export function isSqliteError(error: unknown): error is Error {
  return error instanceof Error &&
    (error as { code?: string }).code === "ERR_SQLITE_ERROR";
}
