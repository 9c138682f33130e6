/**
 * Every SQL statement of the lab catalog, for SQLite and PostgreSQL alike.
 *
 * Two tables: `files` (one row per file, keyed by its resolved path) and
 * `lecroy_waveforms` (one row per LeCroy `.trc` file: `file_id` and one column
 * per WAVEDESC field). Values always travel as bound parameters (`?`, which
 * the PostgreSQL connection renumbers to `$1, $2, ...`); the only names put
 * into the text are the table names, checked by {@linkcode catalogTables}
 * and always in double quotes (so `--table user` works), and the WAVEDESC
 * column names, which come from the template.
 *
 * Both databases understand the same upsert (`INSERT ... ON CONFLICT (path) DO
 * UPDATE ... RETURNING id`), so a file catalogued twice keeps one row.
 *
 * @example
 * ```ts
 * import { catalogTables, createTableStatements, UPSERT_FILE_COLUMNS, upsertFileSql } from "./catalog_sql.ts";
 *
 * const tables = catalogTables("files");
 * createTableStatements("sqlite", tables); // ['CREATE TABLE IF NOT EXISTS "files" (...)', ...]
 * upsertFileSql(tables); // 'INSERT INTO "files" (name, ...) VALUES (?, ...) ON CONFLICT (path) ...'
 * UPSERT_FILE_COLUMNS.length; // 12
 * ```
 *
 * @module
 */
import { type FieldType, WAVEDESC_FIELDS } from "./lecroy.ts";

/** Which SQL dialect a statement is for. */
export type Dialect = "sqlite" | "postgres";

/** The two table names of one catalog. */
export interface CatalogTables {
  /** One row per file. */
  files: string;
  /** One row per LeCroy waveform, `file_id` referencing `files.id`. */
  waveforms: string;
}

/** A table name is put into SQL text, so it may only be a plain identifier. */
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,40}$/;

/**
 * A checked name in double quotes, so that a reserved word (`user`,
 * `select`) is a name too. Lower-case names mean the same table quoted or
 * not, in both databases.
 */
function quoted(name: string): string {
  return `"${name}"`;
}

/**
 * The tables for `--table NAME`: `NAME` and, beside it, `lecroy_waveforms`
 * (for the default `files`) or `NAME_lecroy_waveforms`.
 *
 * @throws {RangeError} when `name` is not a lower-case identifier.
 *
 * @example
 * ```ts
 * catalogTables("files"); // { files: "files", waveforms: "lecroy_waveforms" }
 * catalogTables("run7"); // { files: "run7", waveforms: "run7_lecroy_waveforms" }
 * ```
 */
export function catalogTables(name: string): CatalogTables {
  if (!TABLE_NAME.test(name)) {
    throw new RangeError(
      `table name "${name}" must be lower-case letters, digits and _ (not starting with a digit)`,
    );
  }
  const waveforms = name === "files"
    ? "lecroy_waveforms"
    : `${name}_lecroy_waveforms`;
  return { files: name, waveforms };
}

/** The columns of the files table that a catalog run writes, in order. */
export const UPSERT_FILE_COLUMNS = [
  "name",
  "subdir",
  "path",
  "size_bytes",
  "sha512",
  "modified_at",
  "cataloged_at",
  "source",
  "topic",
  "n_chunks",
  "chunk_size",
  "rebuilt_by",
] as const;

/** The waveform columns after `file_id`: every WAVEDESC field, then USERTEXT. */
export const WAVEFORM_COLUMNS: readonly string[] = [
  ...WAVEDESC_FIELDS.map((field) => field.name),
  "usertext",
];

/** The SQL type of a WAVEDESC field in each dialect. */
function columnType(type: FieldType, dialect: Dialect): string {
  if (type === "word" || type === "long") return "INTEGER";
  if (type === "float" || type === "double") {
    return dialect === "sqlite" ? "REAL" : "DOUBLE PRECISION";
  }
  return "TEXT";
}

/**
 * `CREATE TABLE IF NOT EXISTS` for both tables (and an index for the
 * `--since` filter), safe to run on every start.
 *
 * @example
 * ```ts
 * for (const sql of createTableStatements("postgres", catalogTables("files"))) console.log(sql);
 * ```
 */
export function createTableStatements(
  dialect: Dialect,
  tables: CatalogTables,
): string[] {
  const id = dialect === "sqlite"
    ? "INTEGER PRIMARY KEY AUTOINCREMENT"
    : "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";
  const bigint = dialect === "sqlite" ? "INTEGER" : "BIGINT";
  const waveformColumns = WAVEDESC_FIELDS.map((field) =>
    `${field.name} ${columnType(field.type, dialect)}`
  );
  return [
    `CREATE TABLE IF NOT EXISTS ${quoted(tables.files)} (
      id ${id},
      name TEXT NOT NULL,
      subdir TEXT NOT NULL,
      path TEXT NOT NULL UNIQUE,
      size_bytes ${bigint} NOT NULL,
      sha512 TEXT NOT NULL,
      modified_at TEXT NOT NULL,
      cataloged_at TEXT NOT NULL,
      source TEXT NOT NULL,
      topic TEXT,
      n_chunks INTEGER,
      chunk_size INTEGER,
      rebuilt_by TEXT
    )`,
    `CREATE INDEX IF NOT EXISTS ${quoted(`${tables.files}_modified_at`)}
       ON ${quoted(tables.files)} (modified_at)`,
    `CREATE TABLE IF NOT EXISTS ${quoted(tables.waveforms)} (
      file_id ${bigint} PRIMARY KEY
        REFERENCES ${quoted(tables.files)} (id) ON DELETE CASCADE,
      ${waveformColumns.join(",\n      ")},
      usertext TEXT
    )`,
  ];
}

/**
 * The column names of the files table (one row each, column `name`), to see
 * whether a catalog made by an older version lacks a column.
 *
 * @example
 * ```ts
 * fileColumnsSql("sqlite", catalogTables("files")); // "SELECT name FROM pragma_table_info('files')"
 * ```
 */
export function fileColumnsSql(
  dialect: Dialect,
  tables: CatalogTables,
): string {
  // The table name is checked by catalogTables: safe to inline.
  return dialect === "sqlite"
    ? `SELECT name FROM pragma_table_info('${tables.files}')`
    : `SELECT column_name AS name FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = '${tables.files}'`;
}

/**
 * Adds the `rebuilt_by` column (which member of a consumer group rebuilt a
 * file, for source 'kafka') to a files table made before it existed.
 *
 * @example
 * ```ts
 * addRebuiltBySql(catalogTables("files")); // 'ALTER TABLE "files" ADD COLUMN rebuilt_by TEXT'
 * ```
 */
export function addRebuiltBySql(tables: CatalogTables): string {
  return `ALTER TABLE ${quoted(tables.files)} ADD COLUMN rebuilt_by TEXT`;
}

/**
 * `DROP TABLE IF EXISTS` for both tables (waveforms first: they reference files).
 *
 * @example
 * ```ts
 * dropTableStatements(catalogTables("files")); // ['DROP TABLE IF EXISTS "lecroy_waveforms"', ...]
 * ```
 */
export function dropTableStatements(tables: CatalogTables): string[] {
  return [
    `DROP TABLE IF EXISTS ${quoted(tables.waveforms)}`,
    `DROP TABLE IF EXISTS ${quoted(tables.files)}`,
  ];
}

/**
 * Inserts a file's row, or updates the row with the same path; returns `id`.
 * Parameters: the values of {@linkcode UPSERT_FILE_COLUMNS}, in order.
 *
 * @example
 * ```ts
 * upsertFileSql(catalogTables("files")).endsWith("RETURNING id"); // true
 * ```
 */
export function upsertFileSql(tables: CatalogTables): string {
  const columns = UPSERT_FILE_COLUMNS.join(", ");
  const marks = UPSERT_FILE_COLUMNS.map(() => "?").join(", ");
  const updates = UPSERT_FILE_COLUMNS.filter((c) => c !== "path")
    .map((c) => `${c} = excluded.${c}`).join(", ");
  return `INSERT INTO ${quoted(tables.files)} (${columns}) VALUES (${marks})
    ON CONFLICT (path) DO UPDATE SET ${updates}
    RETURNING id`;
}

/**
 * Inserts or replaces a file's waveform row. Parameters: `file_id`, then the
 * values of {@linkcode WAVEFORM_COLUMNS}, in order.
 *
 * @example
 * ```ts
 * upsertWaveformSql(catalogTables("files")).startsWith('INSERT INTO "lecroy_waveforms"'); // true
 * ```
 */
export function upsertWaveformSql(tables: CatalogTables): string {
  const columns = ["file_id", ...WAVEFORM_COLUMNS];
  const updates = WAVEFORM_COLUMNS.map((c) => `${c} = excluded.${c}`);
  return `INSERT INTO ${quoted(tables.waveforms)} (${columns.join(", ")})
    VALUES (${columns.map(() => "?").join(", ")})
    ON CONFLICT (file_id) DO UPDATE SET ${updates.join(", ")}`;
}

/**
 * Removes a file's waveform row (the file is no longer a readable `.trc`).
 * Parameter: `file_id`.
 *
 * @example
 * ```ts
 * deleteWaveformSql(catalogTables("files")); // 'DELETE FROM "lecroy_waveforms" WHERE file_id = ?'
 * ```
 */
export function deleteWaveformSql(tables: CatalogTables): string {
  return `DELETE FROM ${quoted(tables.waveforms)} WHERE file_id = ?`;
}

/**
 * The path and SHA-512 of every row from one source (to find rows missing
 * after a crash). Parameter: the source.
 *
 * @example
 * ```ts
 * selectHashesSql(catalogTables("files")); // 'SELECT path, sha512 FROM "files" WHERE source = ?'
 * ```
 */
export function selectHashesSql(tables: CatalogTables): string {
  return `SELECT path, sha512 FROM ${quoted(tables.files)} WHERE source = ?`;
}

/** What `deno task catalog` may filter on; unset filters match everything. */
export interface CatalogFilters {
  /** A LIKE pattern for the file name (from `--name GLOB`). */
  nameLike?: string;
  /** ISO 8601: files modified at or after it (`--since DATE`). */
  since?: string;
  /** A LIKE pattern for the instrument name (from `--instrument TEXT`). */
  instrumentLike?: string;
}

/**
 * Every file with its waveform fields (NULL when it has none), filtered and
 * ordered by path; returns the SQL and its parameters. The filter texts only
 * choose which fixed conditions are added: their values stay parameters.
 *
 * @example
 * ```ts
 * const { sql, params } = selectCatalogSql(catalogTables("files"), { since: "2026-01-01" });
 * params; // ["2026-01-01"]
 * ```
 */
export function selectCatalogSql(
  tables: CatalogTables,
  filters: CatalogFilters,
): { sql: string; params: string[] } {
  const where: string[] = [];
  const params: string[] = [];
  if (filters.nameLike !== undefined) {
    where.push(`LOWER(f.name) LIKE LOWER(?) ESCAPE '\\'`);
    params.push(filters.nameLike);
  }
  if (filters.since !== undefined) {
    where.push("f.modified_at >= ?");
    params.push(filters.since);
  }
  if (filters.instrumentLike !== undefined) {
    where.push(`LOWER(w.instrument_name) LIKE LOWER(?) ESCAPE '\\'`);
    params.push(filters.instrumentLike);
  }
  const sql = `SELECT f.*, ${WAVEFORM_COLUMNS.map((c) => `w.${c}`).join(", ")}
    FROM ${quoted(tables.files)} f
    LEFT JOIN ${quoted(tables.waveforms)} w ON w.file_id = f.id
    ${where.length ? "WHERE " + where.join(" AND ") : ""}
    ORDER BY f.path`;
  return { sql, params };
}
