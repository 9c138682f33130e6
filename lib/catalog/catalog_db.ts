/**
 * One connection to the lab catalog: an SQLite file (the default,
 * `out/catalog.db`) or a PostgreSQL server (`postgres://` or `postgresql://`
 * URL) that every machine of a lab shares.
 *
 * Both speak through the same three calls, `query`, `transaction` and
 * `close`, with `?` placeholders and bound values. Connection problems (a
 * server that is down, a wrong password, a path the task may not write)
 * become one {@linkcode UserError} line; the password, from the URL or
 * `$PGPASSWORD`, never appears in any message: {@linkcode describeTarget}
 * drops it.
 *
 * @example
 * ```ts
 * import { openCatalogDb } from "./catalog_db.ts";
 *
 * const db = await openCatalogDb("out/catalog.db");
 * const rows = await db.query<{ n: number }>("SELECT 1 + ? AS n", [1]);
 * rows[0].n; // 2
 * await db.close();
 * ```
 *
 * @module
 */
import { dirname } from "node:path";
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import postgres from "postgres";
import { describeError, UserError } from "../common/cli.ts";
import { openStateDatabase } from "../common/state_db.ts";
import type { Dialect } from "./catalog_sql.ts";

export type { Dialect } from "./catalog_sql.ts";

/** A value bound to a `?` placeholder. */
export type SqlValue = string | number | null;

/** What both kinds of connection can do inside and outside a transaction. */
export interface CatalogQueries {
  /** Runs one statement with bound values and returns its rows. */
  query<T = Record<string, unknown>>(
    sql: string,
    params?: SqlValue[],
  ): Promise<T[]>;
}

/** An open catalog database. */
export interface CatalogDb extends CatalogQueries {
  /** Which SQL dialect it speaks. */
  readonly dialect: Dialect;
  /** Where it is, for messages: a path, or the URL without its password. */
  readonly label: string;
  /** Runs `work` in one transaction: all of it is stored, or none. */
  transaction<T>(work: (db: CatalogQueries) => Promise<T>): Promise<T>;
  /** Closes the connection. */
  close(): Promise<void>;
}

/**
 * Whether `target` names a PostgreSQL server rather than an SQLite file.
 *
 * @example
 * ```ts
 * isPostgresUrl("postgres://lab@db.lab:5432/catalog"); // true
 * isPostgresUrl("out/catalog.db"); // false
 * ```
 */
export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target);
}

/**
 * `target` as it may be printed: an SQLite path as is, a URL without its
 * password.
 *
 * @example
 * ```ts
 * describeTarget("postgres://lab:secret@db.lab/catalog"); // "postgres://lab@db.lab/catalog"
 * ```
 */
export function describeTarget(target: string): string {
  if (!isPostgresUrl(target)) return target;
  try {
    const url = new URL(target);
    url.password = "";
    return url.toString().replace(/^(\w+:\/\/[^:@/]*):?@/, "$1@");
  } catch {
    return "the PostgreSQL URL given";
  }
}

/**
 * Opens the catalog at `target`. With `readOnly`, a missing SQLite file is a
 * {@linkcode UserError} instead of being created.
 *
 * @example
 * ```ts
 * const db = await openCatalogDb("out/catalog.db");
 * await db.close();
 * ```
 */
export async function openCatalogDb(
  target: string,
  options: { readOnly?: boolean } = {},
): Promise<CatalogDb> {
  return isPostgresUrl(target)
    ? await openPostgres(target)
    : await openSqlite(target, options.readOnly ?? false);
}

/** An SQLite file: WAL mode, so that several tools can write it at once. */
async function openSqlite(path: string, readOnly: boolean): Promise<CatalogDb> {
  let db: DatabaseSync;
  try {
    if (readOnly) {
      await Deno.stat(path);
      db = new DatabaseSync(path, { readOnly: true, timeout: 5000 });
    } else {
      await Deno.mkdir(dirname(path), { recursive: true });
      db = openStateDatabase(path, "");
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UserError(`no catalog database at ${path}`);
    }
    if (error instanceof Deno.errors.NotCapable) {
      throw new UserError(
        `this task may not ${readOnly ? "read" : "write"} ${path}`,
      );
    }
    throw new UserError(`cannot open ${path}: ${describeError(error)}`);
  }
  const queries: CatalogQueries = {
    query: <T>(sql: string, params: SqlValue[] = []) =>
      Promise.resolve(
        db.prepare(sql).all(...params as SQLInputValue[]) as T[],
      ),
  };
  // One transaction at a time: the statements of two would interleave.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    dialect: "sqlite",
    label: path,
    ...queries,
    transaction<T>(work: (q: CatalogQueries) => Promise<T>): Promise<T> {
      const run = queue.then(async () => {
        db.exec("BEGIN IMMEDIATE");
        try {
          const result = await work(queries);
          db.exec("COMMIT");
          return result;
        } catch (error) {
          db.exec("ROLLBACK");
          throw error;
        }
      });
      queue = run.catch(() => {});
      return run;
    },
    close: () => Promise.resolve(db.close()),
  };
}

/** `?` placeholders as PostgreSQL's `$1, $2, ...` (no SQL text holds a `?` otherwise). */
function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replaceAll("?", () => `$${++n}`);
}

/** A PostgreSQL server; checked with one query so that a bad URL fails at once. */
async function openPostgres(url: string): Promise<CatalogDb> {
  const label = describeTarget(url);
  const sql = postgres(url, {
    max: 1,
    connect_timeout: 10,
    onnotice: () => {},
    // BIGINT ids and sizes as numbers (files stay far below 2^53 bytes).
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (value: number) => String(value),
        parse: (text: string) => Number(text),
      },
    },
  });
  try {
    await sql`SELECT 1`;
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw new UserError(
      `cannot use the PostgreSQL catalog ${label}: ${describePgError(error)}`,
    );
  }
  const over = (connection: postgres.Sql | postgres.TransactionSql) => ({
    query: async <T>(text: string, params: SqlValue[] = []) =>
      [...await connection.unsafe(numberPlaceholders(text), params)] as T[],
  });
  return {
    dialect: "postgres",
    label,
    ...over(sql),
    transaction: async <T>(work: (q: CatalogQueries) => Promise<T>) =>
      await sql.begin((tx) => work(over(tx))) as T,
    close: () => sql.end({ timeout: 5 }),
  };
}

/** One line for a connection error, naming no password. */
function describePgError(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === "28P01" || code === "28000") {
    return "the server refused the user name or password";
  }
  if (code === "ECONNREFUSED") return "connection refused (is the server up?)";
  if (code === "ENOTFOUND") return "unknown host";
  if (code === "CONNECT_TIMEOUT") return "no answer from the server";
  return describeError(error);
}
