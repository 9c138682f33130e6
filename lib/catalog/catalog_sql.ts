/**
 * Every SQL statement of the lab catalog, for SQLite and PostgreSQL alike.
 *
 * Tables: `files` (one row per file, keyed by its resolved path),
 * `lecroy_waveforms` (one row per LeCroy `.trc` file: `file_id`, one column
 * per WAVEDESC field, and values derived from the samples), `lecroy_segments`
 * (the TRIGTIME entry of each segment of a sequence), `transfers` (one row per
 * trip through Kafka, never overwritten: the file's history) and `tags`
 * (`key=value` pairs a lab attaches: experiment, operator, sample). Values always travel as bound parameters (`?`, which
 * the PostgreSQL connection renumbers to `$1, $2, ...`); the only names put
 * into the text are the table names, checked by {@linkcode catalogTables}
 * and always in double quotes (so `--table user` works), and the WAVEDESC
 * column names, which come from the template.
 *
 * An older catalog is brought up to date by {@linkcode upgradeStatements}.
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

/** The table names of one catalog. */
export interface CatalogTables {
  /** One row per file. */
  files: string;
  /** One row per LeCroy waveform, `file_id` referencing `files.id`. */
  waveforms: string;
  /** One row per segment of a sequence capture (its TRIGTIME entry). */
  segments: string;
  /** One row per transfer through Kafka (sent or rebuilt): the history. */
  transfers: string;
  /** `key=value` tags on files (experiment, operator, sample, ...). */
  tags: string;
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
 * catalogTables("files").waveforms; // "lecroy_waveforms"
 * catalogTables("run7").transfers; // "run7_transfers"
 * ```
 */
export function catalogTables(name: string): CatalogTables {
  if (!TABLE_NAME.test(name)) {
    throw new RangeError(
      `table name "${name}" must be lower-case letters, digits and _ (not starting with a digit)`,
    );
  }
  const prefix = name === "files" ? "" : `${name}_`;
  return {
    files: name,
    waveforms: `${prefix}lecroy_waveforms`,
    segments: `${prefix}lecroy_segments`,
    transfers: `${prefix}transfers`,
    tags: `${prefix}tags`,
  };
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

/**
 * The files columns a plain catalog run (metadata_uploader) updates on a
 * file it has seen before: what the file is now. How it travelled (source,
 * topic, chunks, rebuilt_by) is left as the transfer tools wrote it.
 */
export const DESCRIBE_FILE_COLUMNS = [
  "name",
  "subdir",
  "size_bytes",
  "sha512",
  "modified_at",
  "cataloged_at",
] as const;

/**
 * Values computed from the samples: seconds per segment, points per segment,
 * and the lowest, highest, mean and RMS value in volts over every sample,
 * and the shot the file belongs to (see lib/catalog/shots.ts).
 */
export const DERIVED_COLUMNS: readonly { name: string; type: FieldType }[] = [
  { name: "record_seconds", type: "double" },
  { name: "points_per_segment", type: "long" },
  { name: "min_volts", type: "double" },
  { name: "max_volts", type: "double" },
  { name: "mean_volts", type: "double" },
  { name: "rms_volts", type: "double" },
  { name: "shot", type: "string" },
];

/** The waveform columns after `file_id`: every WAVEDESC field, USERTEXT, the derived values. */
export const WAVEFORM_COLUMNS: readonly string[] = [
  ...WAVEDESC_FIELDS.map((field) => field.name),
  "usertext",
  ...DERIVED_COLUMNS.map((column) => column.name),
];

/** The columns of one transfer row, after its `id`, in order. */
export const TRANSFER_COLUMNS = [
  "file_id",
  "direction",
  "recorded_at",
  "path",
  "size_bytes",
  "sha512",
  "topic",
  "n_chunks",
  "chunk_size",
  "kafka_partition",
  "first_offset",
  "last_offset",
  "offsets",
  "first_kafka_time",
  "last_kafka_time",
  "consumer_group",
  "sent_by",
  "received_by",
  "source_path",
] as const;

/** The SQL type of a field in each dialect. */
function columnType(type: FieldType, dialect: Dialect): string {
  if (type === "word" || type === "long") return "INTEGER";
  if (type === "float" || type === "double") {
    return dialect === "sqlite" ? "REAL" : "DOUBLE PRECISION";
  }
  return "TEXT";
}

/**
 * `CREATE TABLE IF NOT EXISTS` for every table (and the indexes the filters
 * use), safe to run on every start.
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
  const double = columnType("double", dialect);
  const waveformColumns = [...WAVEDESC_FIELDS, ...DERIVED_COLUMNS].map((
    field,
  ) => `${field.name} ${columnType(field.type, dialect)}`);
  const fileId = `file_id ${bigint} NOT NULL
        REFERENCES ${quoted(tables.files)} (id) ON DELETE CASCADE`;
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
      ${waveformColumns.slice(0, WAVEDESC_FIELDS.length).join(",\n      ")},
      usertext TEXT,
      ${waveformColumns.slice(WAVEDESC_FIELDS.length).join(",\n      ")}
    )`,
    `CREATE TABLE IF NOT EXISTS ${quoted(tables.segments)} (
      ${fileId},
      segment INTEGER NOT NULL,
      trigger_seconds ${double} NOT NULL,
      horiz_offset ${double} NOT NULL,
      PRIMARY KEY (file_id, segment)
    )`,
    `CREATE TABLE IF NOT EXISTS ${quoted(tables.transfers)} (
      id ${id},
      ${fileId},
      direction TEXT NOT NULL,
      recorded_at TEXT NOT NULL,
      path TEXT NOT NULL,
      size_bytes ${bigint},
      sha512 TEXT,
      topic TEXT,
      n_chunks INTEGER,
      chunk_size INTEGER,
      kafka_partition INTEGER,
      first_offset ${bigint},
      last_offset ${bigint},
      offsets TEXT,
      first_kafka_time TEXT,
      last_kafka_time TEXT,
      consumer_group TEXT,
      sent_by TEXT,
      received_by TEXT,
      source_path TEXT
    )`,
    `CREATE INDEX IF NOT EXISTS ${quoted(`${tables.transfers}_file_id`)}
       ON ${quoted(tables.transfers)} (file_id)`,
    `CREATE TABLE IF NOT EXISTS ${quoted(tables.tags)} (
      ${fileId},
      key TEXT NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (file_id, key)
    )`,
  ];
}

/**
 * The column names of `table` (one row each, column `name`), to see whether
 * a catalog made by an older version lacks a column or a table.
 *
 * @example
 * ```ts
 * tableColumnsSql("sqlite", "files"); // "SELECT name FROM pragma_table_info('files')"
 * ```
 */
export function tableColumnsSql(dialect: Dialect, table: string): string {
  if (!TABLE_NAME.test(table)) throw new RangeError(`bad table name ${table}`);
  // The table name is checked: safe to inline.
  return dialect === "sqlite"
    ? `SELECT name FROM pragma_table_info('${table}')`
    : `SELECT column_name AS name FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = '${table}'`;
}

/**
 * What brings a catalog made by an older version up to date, given the
 * columns its tables have now (an empty list: the table is new): the
 * `rebuilt_by` column, the derived waveform columns, and a first history row
 * for every file that travelled before the history existed.
 *
 * @example
 * ```ts
 * const tables = catalogTables("files");
 * upgradeStatements(tables, { files: ["id", "name"], waveforms: ["file_id"], transfers: [] }).length; // 9
 * ```
 */
export function upgradeStatements(
  tables: CatalogTables,
  existing: { files: string[]; waveforms: string[]; transfers: string[] },
): string[] {
  const statements: string[] = [];
  if (existing.files.length > 0 && !existing.files.includes("rebuilt_by")) {
    statements.push(
      `ALTER TABLE ${quoted(tables.files)} ADD COLUMN rebuilt_by TEXT`,
    );
  }
  if (existing.waveforms.length > 0) {
    for (const column of DERIVED_COLUMNS) {
      if (existing.waveforms.includes(column.name)) continue;
      const type = column.type === "string"
        ? "TEXT"
        : column.type === "long"
        ? "INTEGER"
        : "DOUBLE PRECISION";
      statements.push(
        `ALTER TABLE ${
          quoted(tables.waveforms)
        } ADD COLUMN ${column.name} ${type}`,
      );
    }
  }
  if (existing.files.length > 0 && existing.transfers.length === 0) {
    // What the files table knew of each transfer becomes its first history row.
    statements.push(`INSERT INTO ${quoted(tables.transfers)}
      (file_id, direction, recorded_at, path, size_bytes, sha512, topic,
       n_chunks, chunk_size, received_by)
      SELECT id, CASE WHEN source = 'kafka' THEN 'rebuilt' ELSE 'sent' END,
        cataloged_at, path, size_bytes, sha512, topic, n_chunks, chunk_size,
        rebuilt_by
      FROM ${quoted(tables.files)} WHERE topic IS NOT NULL ORDER BY id`);
  }
  return statements;
}

/**
 * `DROP TABLE IF EXISTS` for every table (those that reference files first).
 *
 * @example
 * ```ts
 * dropTableStatements(catalogTables("files"))[0]; // 'DROP TABLE IF EXISTS "tags"'
 * ```
 */
export function dropTableStatements(tables: CatalogTables): string[] {
  return [
    tables.tags,
    tables.transfers,
    tables.segments,
    tables.waveforms,
    tables.files,
  ].map((table) => `DROP TABLE IF EXISTS ${quoted(table)}`);
}

/**
 * Inserts a file's row, or updates the row with the same path; returns `id`.
 * Parameters: the values of {@linkcode UPSERT_FILE_COLUMNS}, in order. With
 * `describeOnly`, an existing row gets only the
 * {@linkcode DESCRIBE_FILE_COLUMNS}: how the file travelled stays.
 *
 * @example
 * ```ts
 * upsertFileSql(catalogTables("files")).endsWith("RETURNING id"); // true
 * ```
 */
export function upsertFileSql(
  tables: CatalogTables,
  describeOnly = false,
): string {
  const columns = UPSERT_FILE_COLUMNS.join(", ");
  const marks = UPSERT_FILE_COLUMNS.map(() => "?").join(", ");
  const updated: readonly string[] = describeOnly
    ? DESCRIBE_FILE_COLUMNS
    : UPSERT_FILE_COLUMNS.filter((c) => c !== "path");
  const updates = updated.map((c) => `${c} = excluded.${c}`).join(", ");
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
 * Removes a file's segment rows (before its TRIGTIME is stored again).
 * Parameter: `file_id`.
 *
 * @example
 * ```ts
 * deleteSegmentsSql(catalogTables("files")); // 'DELETE FROM "lecroy_segments" WHERE file_id = ?'
 * ```
 */
export function deleteSegmentsSql(tables: CatalogTables): string {
  return `DELETE FROM ${quoted(tables.segments)} WHERE file_id = ?`;
}

/**
 * Inserts one segment's TRIGTIME entry. Parameters: `file_id`, `segment`
 * (1-based), `trigger_seconds`, `horiz_offset`.
 *
 * @example
 * ```ts
 * insertSegmentSql(catalogTables("files")).startsWith('INSERT INTO "lecroy_segments"'); // true
 * ```
 */
export function insertSegmentSql(tables: CatalogTables): string {
  return `INSERT INTO ${quoted(tables.segments)}
    (file_id, segment, trigger_seconds, horiz_offset) VALUES (?, ?, ?, ?)`;
}

/**
 * Adds one row to the transfer history (never updated, never replaced).
 * Parameters: the values of {@linkcode TRANSFER_COLUMNS}, in order.
 *
 * @example
 * ```ts
 * insertTransferSql(catalogTables("files")).startsWith('INSERT INTO "transfers"'); // true
 * ```
 */
export function insertTransferSql(tables: CatalogTables): string {
  return `INSERT INTO ${quoted(tables.transfers)} (${
    TRANSFER_COLUMNS.join(", ")
  }) VALUES (${TRANSFER_COLUMNS.map(() => "?").join(", ")})`;
}

/**
 * The newest 'sent' transfer of a file with this SHA-512 to this topic
 * (what the sender knew: host, path, chunk size), one sent under the same
 * file name first (copies of one content may travel under several names).
 * Parameters: `/NAME` twice, then sha512, topic. Its `same_name` is 1 when
 * the names match.
 *
 * @example
 * ```ts
 * latestSentSql(catalogTables("files")).includes("direction = 'sent'"); // true
 * ```
 */
export function latestSentSql(tables: CatalogTables): string {
  const sameName =
    "CASE WHEN substr(path, length(path) - length(?) + 1) = ? THEN 1 ELSE 0 END";
  return `SELECT sent_by, source_path, chunk_size, ${sameName} AS same_name
    FROM ${quoted(tables.transfers)}
    WHERE direction = 'sent' AND sha512 = ? AND topic = ?
    ORDER BY same_name DESC, id DESC LIMIT 1`;
}

/**
 * A file's whole history, oldest first. Parameter: `file_id`.
 *
 * @example
 * ```ts
 * selectTransfersSql(catalogTables("files")).endsWith("ORDER BY id"); // true
 * ```
 */
export function selectTransfersSql(tables: CatalogTables): string {
  return `SELECT * FROM ${quoted(tables.transfers)} WHERE file_id = ?
    ORDER BY id`;
}

/**
 * A file's segments with their TRIGTIME entries. Parameter: `file_id`.
 *
 * @example
 * ```ts
 * selectSegmentsSql(catalogTables("files")).endsWith("ORDER BY segment"); // true
 * ```
 */
export function selectSegmentsSql(tables: CatalogTables): string {
  return `SELECT segment, trigger_seconds, horiz_offset
    FROM ${quoted(tables.segments)} WHERE file_id = ? ORDER BY segment`;
}

/**
 * Sets one tag of a file (a new value replaces the old). Parameters:
 * `file_id`, `key`, `value`.
 *
 * @example
 * ```ts
 * upsertTagSql(catalogTables("files")).startsWith('INSERT INTO "tags"'); // true
 * ```
 */
export function upsertTagSql(tables: CatalogTables): string {
  return `INSERT INTO ${quoted(tables.tags)} (file_id, key, value)
    VALUES (?, ?, ?)
    ON CONFLICT (file_id, key) DO UPDATE SET value = excluded.value`;
}

/**
 * Every tag of every file, to show beside the rows.
 *
 * @example
 * ```ts
 * selectTagsSql(catalogTables("files")); // 'SELECT file_id, key, value FROM "tags" ORDER BY file_id, key'
 * ```
 */
export function selectTagsSql(tables: CatalogTables): string {
  return `SELECT file_id, key, value FROM ${
    quoted(tables.tags)
  } ORDER BY file_id, key`;
}

/**
 * The ids of the files with this name (a LIKE pattern), for `catalog tag`.
 * Parameter: the pattern.
 *
 * @example
 * ```ts
 * selectIdsByNameSql(catalogTables("files")).includes("LIKE"); // true
 * ```
 */
export function selectIdsByNameSql(tables: CatalogTables): string {
  return `SELECT id, path FROM ${quoted(tables.files)}
    WHERE LOWER(name) LIKE LOWER(?) ESCAPE '\\' ORDER BY path`;
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
  /**
   * At or after this time (`--since DATE`): the trigger time of a waveform
   * (the instrument's clock), the modification time of any other file.
   */
  since?: string;
  /** Before this time (`--until DATE`), as `since`. */
  until?: string;
  /** A LIKE pattern for the instrument name (from `--instrument TEXT`). */
  instrumentLike?: string;
  /** The instrument's serial number, INSTRUMENT_NUMBER (`--serial N`). */
  serial?: number;
  /** WAVE_SOURCE, e.g. `CHANNEL_2` (`--channel 2`). */
  channel?: string;
  /** TIMEBASE, e.g. `200_ns/div` (`--timebase`). */
  timebase?: string;
  /** VERT_COUPLING, e.g. `DC_50_Ohms` (`--coupling`). */
  coupling?: string;
  /** The shot key (`--shot`). */
  shot?: string;
  /** `[key, value]` tags a file must all have (`--tag key=value`). */
  tags?: [string, string][];
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
): { sql: string; params: SqlParam[] } {
  const where: string[] = [];
  const params: SqlParam[] = [];
  const add = (condition: string, ...values: SqlParam[]) => {
    where.push(condition);
    params.push(...values);
  };
  if (filters.nameLike !== undefined) {
    add(`LOWER(f.name) LIKE LOWER(?) ESCAPE '\\'`, filters.nameLike);
  }
  // The trigger time has no zone (the instrument's clock); compared as text.
  const when = "COALESCE(w.trigger_time, f.modified_at)";
  if (filters.since !== undefined) add(`${when} >= ?`, filters.since);
  if (filters.until !== undefined) add(`${when} < ?`, filters.until);
  if (filters.instrumentLike !== undefined) {
    add(
      `LOWER(w.instrument_name) LIKE LOWER(?) ESCAPE '\\'`,
      filters.instrumentLike,
    );
  }
  if (filters.serial !== undefined) {
    add("w.instrument_number = ?", filters.serial);
  }
  if (filters.channel !== undefined) {
    add("LOWER(w.wave_source) = LOWER(?)", filters.channel);
  }
  if (filters.timebase !== undefined) {
    add("LOWER(w.timebase) = LOWER(?)", filters.timebase);
  }
  if (filters.coupling !== undefined) {
    add("LOWER(w.vert_coupling) = LOWER(?)", filters.coupling);
  }
  if (filters.shot !== undefined) add("w.shot = ?", filters.shot);
  for (const [key, value] of filters.tags ?? []) {
    add(
      `EXISTS (SELECT 1 FROM ${
        quoted(tables.tags)
      } t WHERE t.file_id = f.id AND t.key = ? AND t.value = ?)`,
      key,
      value,
    );
  }
  const sql = `SELECT f.*, ${WAVEFORM_COLUMNS.map((c) => `w.${c}`).join(", ")}
    FROM ${quoted(tables.files)} f
    LEFT JOIN ${quoted(tables.waveforms)} w ON w.file_id = f.id
    ${where.length ? "WHERE " + where.join(" AND ") : ""}
    ORDER BY f.path`;
  return { sql, params };
}

/** A value bound to a `?` of a filter. */
export type SqlParam = string | number;
