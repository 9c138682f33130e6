/**
 * A claim on a folder by a running tool, so that two tools that must not
 * work in one folder at once find out at start, before either touches it.
 * Some tools may share a folder (a "shared" claim, e.g. reconstructors);
 * one tool may need it alone (an "exclusive" claim, e.g. the tool that
 * finishes what a reconstructor left).
 *
 * The claim is SQLite's own file lock on a small lock file (a transaction
 * kept open: a read one for shared, `BEGIN EXCLUSIVE` for exclusive). The
 * operating system drops it when the process ends, however it ends, so a
 * crashed tool never leaves a stale lock behind. A claim that conflicts is
 * refused at once (no waiting) with a one-line `UserError`.
 *
 * @example
 * ```ts
 * import { FolderLock } from "./folder_lock.ts";
 *
 * const lock = FolderLock.take("out/rebuilt/.state/in_use.lock", "shared", "in use");
 * // ... work in out/rebuilt ...
 * lock.release();
 * ```
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { describeError, UserError } from "./cli.ts";

/** Shared: others with a shared claim may work beside; exclusive: alone. */
export type LockMode = "shared" | "exclusive";

/** Whether SQLite said the file is locked by another connection. */
function isBusy(error: unknown): boolean {
  return /database is locked|SQLITE_BUSY/i.test(String(error)) ||
    (error as { errcode?: number }).errcode === 5;
}

/**
 * Every claim not yet released. node:sqlite closes a database that is
 * garbage-collected, which gives its lock up: a program that took a claim
 * for its whole life and kept no reference (reconstruct_data_files did)
 * lost it at some collection while it still ran.
 */
const held = new Set<FolderLock>();

/** A claim taken with {@linkcode FolderLock.take}; released by {@linkcode FolderLock.release}. */
export class FolderLock {
  readonly #db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /**
   * Takes a `mode` claim through the lock file `path` (created if missing;
   * its folder must exist). A conflicting claim held by another process is
   * a `UserError` with the text `refused`; a lock file that cannot be
   * opened is one too, naming it.
   *
   * @example
   * ```ts
   * const lock = FolderLock.take("out/in_use.lock", "exclusive", "out is in use");
   * lock.release();
   * ```
   */
  static take(path: string, mode: LockMode, refused: string): FolderLock {
    let db: DatabaseSync;
    try {
      // No busy timeout: a claim held elsewhere is refused at once.
      db = new DatabaseSync(path, { timeout: 0 });
    } catch (error) {
      throw new UserError(
        `cannot open the lock file ${path} (${describeError(error)})`,
      );
    }
    try {
      if (mode === "exclusive") {
        db.exec("BEGIN EXCLUSIVE");
      } else {
        db.exec("BEGIN");
        // A read takes SQLite's shared lock, kept until the transaction ends.
        db.prepare("SELECT count(*) FROM sqlite_master").get();
      }
    } catch (error) {
      db.close();
      if (isBusy(error)) throw new UserError(refused);
      throw new UserError(
        `cannot lock ${path} (${describeError(error)})`,
      );
    }
    const lock = new FolderLock(db);
    held.add(lock);
    return lock;
  }

  /**
   * Gives the claim up (ending the process does too).
   *
   * @example
   * ```ts
   * declare const lock: FolderLock;
   * lock.release();
   * ```
   */
  release(): void {
    held.delete(this);
    try {
      this.#db.exec("ROLLBACK");
    } catch {
      // Nothing open: nothing to give up.
    }
    this.#db.close();
  }
}
