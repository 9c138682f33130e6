/**
 * A small SQLite file in which a long-running tool records its progress, so
 * that a crash or `kill -9` loses nothing it had recorded.
 *
 * Write-ahead logging (WAL) with `synchronous = NORMAL` keeps every committed
 * transaction when the process dies, and a commit costs no fsync, so a tool
 * can afford one small transaction per chunk.
 *
 * A file the user may not write (made by another user, say) is refused at
 * once, in one line that names it: SQLite would otherwise open it read-only
 * and fail at the first record, long after the tool started.
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
    // A file SQLite could only open read-only fails here, not at its first
    // record: one write, undone at once.
    db.exec("BEGIN; CREATE TABLE write_probe (x); ROLLBACK;");
    return db;
  } catch (error) {
    // SQLite says only "unable to open database file" (or "readonly"): name
    // the file and what to fix.
    throw new UserError(
      `cannot write the state database ${path} (${
        describeError(error)
      }): you need write permission on it and its folder; made by another user? run as that user or change its owner`,
    );
  }
}
