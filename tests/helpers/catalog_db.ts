/**
 * Test helpers for the catalog: run a test once on SQLite and once on a
 * throwaway PostgreSQL, and read the tables back with the plain clients
 * (node:sqlite, postgres), not through the code under test.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import postgres from "postgres";
import { ROOT } from "./run_task.ts";
import { sharedTestPostgres, type TestPostgres } from "./postgres.ts";

/** One database a test runs against. */
export interface TestCatalog {
  /** "SQLite" or "PostgreSQL", for step names. */
  kind: string;
  /** What to pass as `--db` / `--catalog`. */
  db: string;
  /** The password that must never be printed ('' for SQLite). */
  secret: string;
}

/**
 * Runs `body` as two steps of `t`: on a new SQLite file in `dir`, and on a
 * new database of the test process's PostgreSQL server.
 *
 * @example
 * ```ts
 * Deno.test("...", (t) => onBothDatabases(t, dir, async (catalog) => { }));
 * ```
 */
export async function onBothDatabases(
  t: Deno.TestContext,
  name: string,
  dir: string,
  body: (catalog: TestCatalog, pg?: TestPostgres) => Promise<void>,
): Promise<void> {
  const file = `${dir}/${name.replace(/\W+/g, "_")}.db`;
  await t.step(
    `${name} (SQLite)`,
    () => body({ kind: "SQLite", db: file, secret: "" }),
  );
  // One server for the whole test process; a fresh database for each step.
  const pg = await sharedTestPostgres();
  await t.step(`${name} (PostgreSQL)`, async () =>
    body(
      { kind: "PostgreSQL", db: await pg.freshDatabase(), secret: pg.password },
      pg,
    ));
}

/**
 * The rows of `sql` in the catalog `db` (path relative to the project, or URL).
 *
 * @example
 * ```ts
 * const rows = await queryRows(catalog.db, "SELECT * FROM files ORDER BY path");
 * ```
 */
export async function queryRows(
  db: string,
  sql: string,
): Promise<Record<string, unknown>[]> {
  if (db.startsWith("postgres")) {
    const client = postgres(db, {
      max: 1,
      onnotice: () => {},
      types: {
        bigint: {
          to: 20,
          from: [20],
          serialize: String,
          parse: Number,
        },
      },
    });
    try {
      return [...await client.unsafe(sql)] as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  }
  const sqlite = new DatabaseSync(`${ROOT}${db}`, { readOnly: true });
  try {
    return sqlite.prepare(sql).all().map((row) => ({ ...row }));
  } finally {
    sqlite.close();
  }
}
