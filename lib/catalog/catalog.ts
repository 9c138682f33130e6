/**
 * The lab catalog: one row per file (name, folder, size, SHA-512, times, how
 * it arrived) and, for LeCroy `.trc` files, one row of WAVEDESC fields.
 *
 * {@linkcode Catalog.open} connects (SQLite or PostgreSQL, see
 * catalog_db.ts) and creates the tables; {@linkcode Catalog.add} describes a
 * file and upserts its rows in one transaction, so a file catalogued again
 * (by a re-run, or after a crash) keeps one row that tells its current size
 * and hash. A `.trc` file that is no readable LeCroy waveform still gets its
 * file row; the entry then carries a `warning` for the caller to print.
 *
 * @example
 * ```ts
 * import { Catalog } from "./catalog.ts";
 *
 * const catalog = await Catalog.open("out/catalog.db");
 * const entry = await catalog.add("../shared/data/lecroy/pulse.trc");
 * entry.waveform?.fields.instrument_name; // "LECROYWR64Xi-A"
 * await catalog.close();
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { UserError } from "../common/cli.ts";
import {
  type CatalogDb,
  type CatalogQueries,
  openCatalogDb,
  type SqlValue,
} from "./catalog_db.ts";
import {
  addRebuiltBySql,
  type CatalogFilters,
  type CatalogTables,
  catalogTables,
  createTableStatements,
  deleteWaveformSql,
  dropTableStatements,
  fileColumnsSql,
  selectCatalogSql,
  selectHashesSql,
  upsertFileSql,
  upsertWaveformSql,
  WAVEFORM_COLUMNS,
} from "./catalog_sql.ts";
import {
  LecroyFormatError,
  type LecroyWaveform,
  parseWavedesc,
} from "./lecroy.ts";

export type { CatalogFilters } from "./catalog_sql.ts";
export type { FieldValue, LecroyWaveform } from "./lecroy.ts";

/** The default catalog: an SQLite file in out/. */
export const DEFAULT_CATALOG = "out/catalog.db";

/** How a file came to be catalogued. */
export interface FileOrigin {
  /** 'file' (a local file, also one sent to Kafka) or 'kafka' (rebuilt from it). */
  source: "file" | "kafka";
  /** The Kafka topic it went to or came from. */
  topic?: string;
  /** The number of chunks it was sent in. */
  nChunks?: number;
  /** Bytes per chunk (all but the last). */
  chunkSize?: number;
  /** For source 'kafka': the member that rebuilt it (host, and pid when known). */
  rebuiltBy?: string;
}

/** What {@linkcode Catalog.add} stored for one file. */
export interface CatalogEntry {
  /** The row's `id` in the files table. */
  id: number;
  /** The file's resolved path (the row's key). */
  path: string;
  /** Bytes in the file. */
  size: number;
  /** Its SHA-512, hex. */
  sha512: string;
  /** The parsed WAVEDESC, for a `.trc` file that has one. */
  waveform?: LecroyWaveform;
  /** What is wrong with a `.trc` file, for one warning line. */
  warning?: string;
}

/** Bytes read from the start of a `.trc` file for its WAVEDESC and USERTEXT. */
const HEAD_BYTES = 8192;

/** A catalog database with its tables in place. */
export class Catalog {
  readonly #db: CatalogDb;
  readonly #tables: CatalogTables;

  private constructor(db: CatalogDb, tables: CatalogTables) {
    this.#db = db;
    this.#tables = tables;
  }

  /**
   * Connects to `target` (a path or a `postgres://` URL) and creates the
   * tables if missing; `recreate` drops them first.
   *
   * @example
   * ```ts
   * const catalog = await Catalog.open("out/catalog.db", { table: "files", recreate: true });
   * ```
   */
  static async open(
    target: string,
    options: { table?: string; recreate?: boolean } = {},
  ): Promise<Catalog> {
    let tables: CatalogTables;
    try {
      tables = catalogTables(options.table ?? "files");
    } catch (error) {
      throw new UserError((error as Error).message);
    }
    const db = await openCatalogDb(target);
    await db.transaction(async (q) => {
      if (options.recreate) {
        for (const sql of dropTableStatements(tables)) await q.query(sql);
      }
      for (const sql of createTableStatements(db.dialect, tables)) {
        await q.query(sql);
      }
      const columns = await q.query<{ name: string }>(
        fileColumnsSql(db.dialect, tables),
      );
      if (!columns.some((c) => c.name === "rebuilt_by")) {
        await q.query(addRebuiltBySql(tables));
      }
    });
    return new Catalog(db, tables);
  }

  /**
   * Connects to an existing catalog to read it: nothing is created, and a
   * missing SQLite file is a {@linkcode UserError}.
   *
   * @example
   * ```ts
   * const catalog = await Catalog.openForReading("out/catalog.db");
   * ```
   */
  static async openForReading(
    target: string,
    table = "files",
  ): Promise<Catalog> {
    let tables: CatalogTables;
    try {
      tables = catalogTables(table);
    } catch (error) {
      throw new UserError((error as Error).message);
    }
    return new Catalog(await openCatalogDb(target, { readOnly: true }), tables);
  }

  /**
   * Every catalogued file with its waveform fields (NULL for other files),
   * ordered by path, filtered by `filters`.
   *
   * @example
   * ```ts
   * const catalog = await Catalog.openForReading("out/catalog.db");
   * const rows = await catalog.find({ instrumentLike: "%wr64%" });
   * rows[0].trigger_time; // "2022-11-09T09:23:52.112417"
   * ```
   */
  async find(filters: CatalogFilters = {}): Promise<Record<string, unknown>[]> {
    const { sql, params } = selectCatalogSql(this.#tables, filters);
    try {
      return await this.#db.query(sql, params);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "42P01" || /no such table/.test(String(error))) {
        throw new UserError(`${this.label} has no catalog table yet`);
      }
      throw error;
    }
  }

  /** Where the catalog is, e.g. `out/catalog.db:files` (no password). */
  get label(): string {
    return `${this.#db.label}:${this.#tables.files}`;
  }

  /**
   * Describes the file at `path` and stores its rows (replacing earlier ones
   * for the same path). `subdir` is its folder under the argument it was
   * found through ('' at the top).
   *
   * @example
   * ```ts
   * const catalog = await Catalog.open("out/catalog.db");
   * await catalog.add("out/rebuilt/pulse.trc", "", { source: "kafka", topic: "lecroy_files", nChunks: 1, chunkSize: 16384 });
   * ```
   */
  async add(
    path: string,
    subdir = "",
    origin: FileOrigin = { source: "file" },
  ): Promise<CatalogEntry> {
    const resolved = await Deno.realPath(path);
    const info = await Deno.stat(resolved);
    const sha512 = await hashFile(resolved);
    const entry: CatalogEntry = {
      id: 0,
      path: resolved,
      size: info.size,
      sha512,
    };
    if (/\.trc$/i.test(resolved)) readWaveform(resolved, info.size, entry);
    const fileRow: SqlValue[] = [
      basename(resolved),
      subdir,
      resolved,
      info.size,
      sha512,
      (info.mtime ?? new Date()).toISOString(),
      new Date().toISOString(),
      origin.source,
      origin.topic ?? null,
      origin.nChunks ?? null,
      origin.chunkSize ?? null,
      origin.rebuiltBy ?? null,
    ];
    entry.id = await this.#db.transaction(async (q) => {
      const [{ id }] = await q.query<{ id: number }>(
        upsertFileSql(this.#tables),
        fileRow,
      );
      await this.#storeWaveform(q, id, entry.waveform);
      return Number(id);
    });
    return entry;
  }

  /** Upserts (or, for a file that is no waveform now, deletes) the waveform row. */
  async #storeWaveform(
    q: CatalogQueries,
    id: number,
    waveform: LecroyWaveform | undefined,
  ): Promise<void> {
    if (!waveform) {
      await q.query(deleteWaveformSql(this.#tables), [id]);
      return;
    }
    const values = WAVEFORM_COLUMNS.map((column) =>
      column === "usertext" ? waveform.usertext : waveform.fields[column]
    );
    await q.query(upsertWaveformSql(this.#tables), [id, ...values]);
  }

  /**
   * The SHA-512 of every catalogued path from `source`, to find files whose
   * rows are missing (e.g. after a crash).
   *
   * @example
   * ```ts
   * const catalog = await Catalog.open("out/catalog.db");
   * const known = await catalog.hashesBySource("kafka");
   * known.get("/data/rebuilt/a.bin"); // "9f86d0..."
   * ```
   */
  async hashesBySource(source: string): Promise<Map<string, string>> {
    const rows = await this.#db.query<{ path: string; sha512: string }>(
      selectHashesSql(this.#tables),
      [source],
    );
    return new Map(rows.map((row) => [row.path, row.sha512]));
  }

  /**
   * Closes the connection.
   *
   * @example
   * ```ts
   * const catalog = await Catalog.open("out/catalog.db");
   * await catalog.close();
   * ```
   */
  async close(): Promise<void> {
    await this.#db.close();
  }
}

/** Parses a `.trc` file's WAVEDESC into `entry`, or notes what is wrong. */
function readWaveform(path: string, size: number, entry: CatalogEntry): void {
  const file = Deno.openSync(path, { read: true });
  try {
    const head = new Uint8Array(Math.min(size, HEAD_BYTES));
    let read = 0;
    while (read < head.length) {
      const n = file.readSync(head.subarray(read));
      if (n === null) break;
      read += n;
    }
    const waveform = parseWavedesc(head.subarray(0, read), size);
    entry.waveform = waveform;
    if (waveform.incomplete) entry.warning = waveform.incomplete;
  } catch (error) {
    if (!(error instanceof LecroyFormatError)) throw error;
    entry.warning = `not a readable LeCroy waveform: ${error.message}`;
  } finally {
    file.close();
  }
}

/**
 * The SHA-512 of a file, hex, read as a stream.
 *
 * @example
 * ```ts
 * await hashFile("../shared/data/lecroy/pulse.trc"); // "95a046..."
 * ```
 */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha512");
  // The stream closes the file when it ends.
  const file = await Deno.open(path, { read: true });
  for await (const bytes of file.readable) hash.update(bytes);
  return hash.digest("hex");
}
