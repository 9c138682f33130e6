/**
 * A small SQLite file in which a long-running tool records its progress, so
 * that a crash or `kill -9` loses nothing it had recorded.
 *
 * Write-ahead logging (WAL) with `synchronous = NORMAL` keeps every committed
 * transaction when the process dies, and a commit costs no fsync, so a tool
 * can afford one small transaction per chunk.
 *
 * @example
 * ```ts
 * import { openStateDatabase } from "./state_db.ts";
 *
 * const db = openStateDatabase("out/state.db", "CREATE TABLE IF NOT EXISTS done (name TEXT)");
 * db.prepare("INSERT INTO done VALUES (?)").run("a.bin");
 * db.close();
 * ```
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { describeError, UserError } from "./cli.ts";

/**
 * Opens (creating if needed) the database at `path` in WAL mode and runs
 * `schema` (statements that must be safe to repeat, such as
 * `CREATE TABLE IF NOT EXISTS`).
 *
 * @example
 * ```ts
 * const db = openStateDatabase(":memory:", "CREATE TABLE IF NOT EXISTS t (x)");
 * ```
 */
export function openStateDatabase(path: string, schema: string): DatabaseSync {
  try {
    const db = new DatabaseSync(path, { timeout: 5000 });
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    db.exec(schema);
    return db;
  } catch (error) {
    // SQLite says only "unable to open database file" (or "readonly"): name
    // the file, so the user knows which permission to fix.
    throw new UserError(
      `cannot use the state database ${path}: ${describeError(error)}`,
    );
  }
}
