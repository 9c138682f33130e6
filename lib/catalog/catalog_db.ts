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
import { connect as netConnect } from "node:net";
import { describeError, UsageError, UserError } from "../common/cli.ts";
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
 * password. Works on text that is no valid URL too: everything between
 * `://` and the last `@` but the user name is dropped.
 *
 * @example
 * ```ts
 * describeTarget("postgres://lab:secret@db.lab/catalog"); // "postgres://lab@db.lab/catalog"
 * describeTarget("postgres://lab:secret@db.lab:port/catalog"); // "postgres://lab@db.lab:port/catalog"
 * ```
 */
export function describeTarget(target: string): string {
  if (!isPostgresUrl(target)) return target;
  const scheme = target.indexOf("://") + 3;
  const at = target.lastIndexOf("@");
  if (at < scheme) return target;
  const user = target.slice(scheme, at).split(":")[0];
  return `${target.slice(0, scheme)}${user}@${target.slice(at + 1)}`;
}

/**
 * Checks that a `postgres://` URL can be used: it parses, and its port, if
 * any, is a number from 1 to 65535. Throws a {@linkcode UsageError} that
 * shows the URL without its password.
 *
 * @example
 * ```ts
 * checkPostgresUrl("postgres://lab@db.lab:5432/catalog"); // fine
 * checkPostgresUrl("postgres://lab:secret@db.lab:port/catalog"); // throws: the port "port" is not ...
 * ```
 */
export function checkPostgresUrl(target: string): void {
  const shown = describeTarget(target);
  // The authority: after "://", up to the first "/" or "?" after the last "@".
  const afterAt = target.slice(
    Math.max(target.lastIndexOf("@") + 1, target.indexOf("://") + 3),
  );
  const hosts = afterAt.split(/[/?]/)[0];
  // Several hosts (h1:5432,h2:5433) are allowed, as the client allows them.
  for (const hostPort of hosts.split(",")) {
    const port = /^(?:\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostPort)?.[1];
    if (
      port !== undefined && port !== "" &&
      !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)
    ) {
      throw new UsageError(
        `the catalog URL ${shown} has port "${port}": not a number from 1 to 65535`,
      );
    }
  }
  try {
    new URL(target.replace(hosts, hosts.split(",")[0]));
  } catch {
    throw new UsageError(
      `the catalog URL ${shown} is not a valid URL (postgres://user@host:port/database)`,
    );
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

/** SQLite result codes a user can fix (busy, read-only, disk full, no database). */
const SQLITE_USER_CODES = new Set([5, 6, 8, 10, 11, 13, 14, 26]);

/** A database error the user can fix, as one line; `code` as the driver gave it. */
export class CatalogDbError extends UserError {
  /** The SQLSTATE (PostgreSQL) or the client's error code, if any. */
  readonly code?: string;

  /** An error whose `message` names the catalog and what went wrong. */
  constructor(message: string, code?: string) {
    super(message);
    this.name = "CatalogDbError";
    this.code = code;
  }
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
  // Locked, read-only, full or no database at all: one line naming the file.
  const userCaused = (error: unknown) => {
    const code = (error as { errcode?: number }).errcode;
    return code === undefined || !SQLITE_USER_CODES.has(code & 0xff)
      ? error
      : new CatalogDbError(`the catalog ${path}: ${describeError(error)}`);
  };
  const queries: CatalogQueries = {
    query: <T>(sql: string, params: SqlValue[] = []) => {
      try {
        return Promise.resolve(
          db.prepare(sql).all(...params as SQLInputValue[]) as T[],
        );
      } catch (error) {
        return Promise.reject(userCaused(error));
      }
    },
  };
  // One transaction at a time: the statements of two would interleave.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    dialect: "sqlite",
    label: path,
    ...queries,
    transaction<T>(work: (q: CatalogQueries) => Promise<T>): Promise<T> {
      const run = queue.then(async () => {
        try {
          db.exec("BEGIN IMMEDIATE");
        } catch (error) {
          throw userCaused(error);
        }
        try {
          const result = await work(queries);
          db.exec("COMMIT");
          return result;
        } catch (error) {
          if (db.isTransaction) db.exec("ROLLBACK");
          throw userCaused(error);
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

/**
 * Connections opened in a row without one that logs in before giving up: a
 * port that answers but is no PostgreSQL would otherwise be tried for ever.
 */
const MAX_CONNECTION_ATTEMPTS = 5;

/** The passwords a message must not show: the URL's and `$PGPASSWORD`. */
function secretsOf(url: string): string[] {
  const secrets: string[] = [];
  const userinfo = url.slice(url.indexOf("://") + 3, url.lastIndexOf("@"));
  const colon = userinfo.indexOf(":");
  if (colon >= 0) {
    const raw = userinfo.slice(colon + 1);
    secrets.push(raw);
    try {
      secrets.push(decodeURIComponent(raw));
    } catch {
      // Not percent-encoded text: the raw form is enough.
    }
  }
  secrets.push(Deno.env.get("PGPASSWORD") ?? "");
  return secrets.filter((secret) => secret !== "");
}

/**
 * The client (postgres 3.4.9) may run a write it had scheduled after the
 * server closed the connection, and throw from a timer where no caller can
 * catch it. Its queries are already rejected then, with the error that says
 * what happened; that late TypeError is not the user's to see.
 */
function ignoreWriteAfterClose(event: ErrorEvent): void {
  const error = event.error;
  if (
    error instanceof TypeError &&
    /reading 'write'/.test(error.message) &&
    /postgres\/src\/connection\.js/.test(error.stack ?? "")
  ) event.preventDefault();
}

/**
 * The URL for messages, without its password; a URL without a host
 * (`postgres://`, everything from `$PGHOST`, `$PGUSER`, ...) shown as the
 * client reads it from the environment.
 */
function labelFor(url: string): string {
  const parsed = new URL(url);
  if (parsed.hostname !== "") return describeTarget(url);
  const env = (name: string) => Deno.env.get(name) ?? "";
  const user = decodeURIComponent(parsed.username) || env("PGUSER") ||
    env("USER") || env("USERNAME") || env("LOGNAME");
  const host = env("PGHOST") || "localhost";
  const port = parsed.port || env("PGPORT") || "5432";
  const database = parsed.pathname.slice(1) || env("PGDATABASE") || user;
  return `postgres://${user}@${host}:${port}/${database}`;
}

/** A PostgreSQL server; checked with one query so that a bad URL fails at once. */
async function openPostgres(url: string): Promise<CatalogDb> {
  checkPostgresUrl(url);
  globalThis.removeEventListener("error", ignoreWriteAfterClose);
  globalThis.addEventListener("error", ignoreWriteAfterClose);
  const label = labelFor(url);
  const secrets = secretsOf(url);
  // Every connection goes through here, so that the attempts can be counted.
  let attempts = 0;
  const socket = (
    options: { host: string[]; port: number[]; path?: string },
  ) => {
    if (++attempts > MAX_CONNECTION_ATTEMPTS) {
      throw new CatalogDbError(
        `cannot use the PostgreSQL catalog ${label}: ${MAX_CONNECTION_ATTEMPTS} connections were closed before logging in (is it a PostgreSQL server?)`,
        "NOT_POSTGRES",
      );
    }
    const i = (attempts - 1) % options.host.length;
    return options.path
      ? netConnect(options.path)
      : netConnect(options.port[i] ?? options.port[0], options.host[i]);
  };
  const sql = postgres(url, {
    max: 1,
    connect_timeout: 10,
    onnotice: () => {},
    // Documented in the client's README ("Custom socket"), not in its types.
    ...{ socket } as Record<string, unknown>,
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
  // Once the connection is lost, closing need not wait for it.
  let lost = false;
  /** A driver error as one line, or the error itself when it is a bug. */
  const userCaused = (error: unknown, doing: string) => {
    if (error instanceof CatalogDbError) return error;
    const code = (error as { code?: string }).code;
    if (!isUserCausedPgError(code)) return error;
    lost ||= CONNECTION_CODES.has(code!) || /^(08|57)/.test(code!);
    return new CatalogDbError(
      scrub(`${doing} ${label}: ${describePgError(error)}`, secrets),
      code,
    );
  };
  try {
    await sql`SELECT 1`;
    attempts = 0;
  } catch (error) {
    await sql.end({ timeout: 0 }).catch(() => {});
    const line = userCaused(error, "cannot use the PostgreSQL catalog");
    throw line instanceof CatalogDbError ? line : new CatalogDbError(
      scrub(
        `cannot use the PostgreSQL catalog ${label}: ${describeError(error)}`,
        secrets,
      ),
    );
  }
  const over = (connection: postgres.Sql | postgres.TransactionSql) => ({
    query: async <T>(text: string, params: SqlValue[] = []) => {
      try {
        const rows = [
          ...await connection.unsafe(numberPlaceholders(text), params),
        ] as T[];
        attempts = 0;
        return rows;
      } catch (error) {
        throw userCaused(error, "the PostgreSQL catalog");
      }
    },
  });
  return {
    dialect: "postgres",
    label,
    ...over(sql),
    transaction: async <T>(work: (q: CatalogQueries) => Promise<T>) => {
      try {
        return await sql.begin((tx) => work(over(tx))) as T;
      } catch (error) {
        throw userCaused(error, "the PostgreSQL catalog");
      }
    },
    close: () => sql.end({ timeout: lost ? 0 : 5 }).catch(() => {}),
  };
}

/** Client codes for a connection that failed or was lost. */
const CONNECTION_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "NOT_POSTGRES",
  "SASL_SIGNATURE_MISMATCH",
]);

/**
 * Whether a PostgreSQL error is the user's to fix: a lost or refused
 * connection, a login or privilege refused, a database that does not exist,
 * a server that is shutting down or full.
 */
function isUserCausedPgError(code: string | undefined): boolean {
  if (code === undefined) return false;
  return CONNECTION_CODES.has(code) ||
    /^(08|28|3D|53|57)/.test(code) ||
    ["42501", "25006", "3F000"].includes(code);
}

/** `text` with every secret in it replaced by `***`. */
function scrub(text: string, secrets: string[]): string {
  return secrets.reduce((out, secret) => out.replaceAll(secret, "***"), text);
}

/** One line for a connection error, naming no password. */
function describePgError(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = describeError(error);
  if (code === "28P01" || code === "28000") {
    return "the server refused the user name or password";
  }
  if (code === "ECONNREFUSED") return "connection refused (is the server up?)";
  if (code === "ENOTFOUND") return "unknown host";
  if (code === "CONNECT_TIMEOUT") return "no answer from the server";
  if (code === "42501" && /schema/.test(message)) {
    // PostgreSQL 15 and later: only the database owner may create tables.
    return `${message} (the tables are made on first use: run once as the database's owner, or GRANT CREATE ON SCHEMA to this user)`;
  }
  if (code?.startsWith("57") || code?.startsWith("CONNECTION_")) {
    return `the connection to the server was lost (${message})`;
  }
  return message;
}
