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
import { basename, dirname } from "node:path";
import { UserError } from "../common/cli.ts";
import {
  type CatalogDb,
  type CatalogQueries,
  openCatalogDb,
  type SqlValue,
} from "./catalog_db.ts";
import {
  type CatalogFilters,
  type CatalogTables,
  catalogTables,
  createTableStatements,
  deleteSegmentsSql,
  deleteWaveformSql,
  DERIVED_COLUMNS,
  dropTableStatements,
  insertSegmentSql,
  insertTransferSql,
  latestSentSql,
  selectCatalogSql,
  selectHashesSql,
  selectIdsByNameSql,
  selectSegmentsSql,
  selectTagsSql,
  selectTransfersSql,
  tableColumnsSql,
  upgradeStatements,
  upsertFileSql,
  upsertTagSql,
  upsertWaveformSql,
  WAVEFORM_COLUMNS,
} from "./catalog_sql.ts";
import {
  LecroyFormatError,
  type LecroyWaveform,
  parseWavedesc,
} from "./lecroy.ts";
import { shotKey } from "./shots.ts";
import { readFullSync } from "../common/read_full.ts";
import {
  type SegmentTrigger,
  segmentTriggers,
  type WaveformStats,
  waveformStats,
} from "./waveform_stats.ts";

export type { CatalogFilters } from "./catalog_sql.ts";
export type { FieldValue, LecroyWaveform } from "./lecroy.ts";

/** The default catalog: an SQLite file in out/. */
export const DEFAULT_CATALOG = "out/catalog.db";

/** One trip of a file through Kafka, as a row of the history. */
export interface TransferProvenance {
  /** 'sent' (by an uploader) or 'rebuilt' (by a reconstructor). */
  direction: "sent" | "rebuilt";
  /** The Kafka topic. */
  topic: string;
  /** The number of chunks. */
  nChunks: number;
  /** Bytes per chunk (all but the last); unknown to a reconstructor of one chunk. */
  chunkSize?: number;
  /** The partition, when every chunk went to the same one. */
  partition?: number;
  /** The lowest offset of the file's chunks (in `partition`). */
  firstOffset?: number;
  /** The highest offset of the file's chunks (in `partition`). */
  lastOffset?: number;
  /** Every partition with its offsets, `partition:first-last`, comma-separated. */
  offsets?: string;
  /** ISO 8601: the earliest Kafka timestamp of a chunk (or acknowledgement). */
  firstKafkaTime?: string;
  /** ISO 8601: the latest Kafka timestamp of a chunk (or acknowledgement). */
  lastKafkaTime?: string;
  /** The consumer group that read it (rebuilt only). */
  consumerGroup?: string;
  /** The host that sent it (for 'rebuilt': from the sender's row, if any). */
  sentBy?: string;
  /** The host (and pid) that rebuilt it. */
  receivedBy?: string;
  /** The path on the sending host. */
  sourcePath?: string;
}

/** How a file came to be catalogued. */
export interface FileOrigin {
  /** 'file' (a local file, also one sent to Kafka) or 'kafka' (rebuilt from it). */
  source: "file" | "kafka";
  /** The trip through Kafka that brought it here or took it away. */
  transfer?: TransferProvenance;
  /** `key=value` tags to set on the file. */
  tags?: Record<string, string>;
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
  /** What the samples add up to, for a complete waveform. */
  stats?: WaveformStats;
  /** Each segment's TRIGTIME entry (sequence captures). */
  triggers?: SegmentTrigger[];
  /** The shot key (see shots.ts), for a waveform. */
  shot?: string;
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
    try {
      await db.transaction(async (q) => {
        if (options.recreate) {
          for (const sql of dropTableStatements(tables)) await q.query(sql);
        }
        // What an older version made is upgraded in place, its rows kept.
        const existing = await existingColumns(q, db.dialect, tables);
        for (const sql of createTableStatements(db.dialect, tables)) {
          await q.query(sql);
        }
        for (const sql of upgradeStatements(tables, existing)) {
          await q.query(sql);
        }
      });
    } catch (error) {
      await db.close();
      throw error;
    }
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
    const db = await openCatalogDb(target, { readOnly: true });
    let current: boolean;
    try {
      const existing = await existingColumns(db, db.dialect, tables);
      current = existing.transfers.length > 0 &&
        DERIVED_COLUMNS.every((c) => existing.waveforms.includes(c.name));
      if (existing.files.length === 0) current = true;
    } catch (error) {
      await db.close();
      throw error;
    }
    if (current) return new Catalog(db, tables);
    // Made by an older version: upgraded in place (its rows kept) first.
    await db.close();
    return await Catalog.open(target, { table });
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
      const rows = await this.#db.query(sql, params);
      const tags = await this.#db.query<
        { file_id: number; key: string; value: string }
      >(selectTagsSql(this.#tables));
      const byFile = new Map<number, string[]>();
      for (const tag of tags) {
        const list = byFile.get(Number(tag.file_id)) ?? [];
        list.push(`${tag.key}=${tag.value}`);
        byFile.set(Number(tag.file_id), list);
      }
      return rows.map((row) => ({
        ...row,
        tags: byFile.get(Number(row.id))?.join(", ") ?? "",
      }));
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
   * found through ('' at the top). A transfer in `origin` adds one row to
   * the file's history; without one, how the file travelled stays as the
   * transfer tools recorded it.
   *
   * @example
   * ```ts
   * const catalog = await Catalog.open("out/catalog.db");
   * await catalog.add("out/rebuilt/pulse.trc", "", {
   *   source: "kafka",
   *   transfer: { direction: "rebuilt", topic: "lecroy_files", nChunks: 1, receivedBy: "labpc2" },
   * });
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
    if (/\.trc$/i.test(resolved)) await describeWaveform(resolved, entry);
    entry.id = await this.#db.transaction(async (q) => {
      const transfer = origin.transfer &&
        await this.#withSender(q, entry, origin.transfer);
      const fileRow: SqlValue[] = [
        basename(resolved),
        subdir,
        resolved,
        info.size,
        sha512,
        (info.mtime ?? new Date()).toISOString(),
        new Date().toISOString(),
        origin.source,
        transfer?.topic ?? null,
        transfer?.nChunks ?? null,
        transfer?.chunkSize ?? null,
        transfer?.direction === "rebuilt" ? transfer.receivedBy ?? null : null,
      ];
      const [{ id }] = await q.query<{ id: number }>(
        upsertFileSql(this.#tables, transfer === undefined),
        fileRow,
      );
      await this.#storeWaveform(q, id, entry);
      if (transfer) await this.#storeTransfer(q, id, entry, transfer);
      for (const [key, value] of Object.entries(origin.tags ?? {})) {
        await q.query(upsertTagSql(this.#tables), [id, key, value]);
      }
      return Number(id);
    });
    return entry;
  }

  /** Upserts (or, for a file that is no waveform now, deletes) the waveform rows. */
  async #storeWaveform(
    q: CatalogQueries,
    id: number,
    entry: CatalogEntry,
  ): Promise<void> {
    const { waveform, stats } = entry;
    await q.query(deleteSegmentsSql(this.#tables), [id]);
    if (!waveform) {
      await q.query(deleteWaveformSql(this.#tables), [id]);
      return;
    }
    const derived: Record<string, SqlValue> = {
      ...stats,
      shot: entry.shot ?? null,
    };
    const values = WAVEFORM_COLUMNS.map((column) =>
      column === "usertext"
        ? waveform.usertext
        : waveform.fields[column] ?? derived[column] ?? null
    );
    await q.query(upsertWaveformSql(this.#tables), [id, ...values]);
    for (const t of entry.triggers ?? []) {
      await q.query(insertSegmentSql(this.#tables), [
        id,
        t.segment,
        t.trigger_seconds,
        t.horiz_offset,
      ]);
    }
  }

  /**
   * A rebuilt file's transfer completed with what the chunks do not carry,
   * from the sender's row of the same content and topic (if this catalog
   * has one): the sending host, its path, the chunk size.
   */
  async #withSender(
    q: CatalogQueries,
    entry: CatalogEntry,
    transfer: TransferProvenance,
  ): Promise<TransferProvenance> {
    if (transfer.direction !== "rebuilt") return transfer;
    const [sent] = await q.query<
      {
        sent_by: string | null;
        source_path: string | null;
        chunk_size: number | null;
        same_name: number;
      }
    >(latestSentSql(this.#tables), [
      `/${basename(entry.path)}`,
      `/${basename(entry.path)}`,
      entry.sha512,
      transfer.topic,
    ]);
    if (!sent) return transfer;
    // The sender's host and path only from a row of the same name: another
    // file of the same content is not where this one came from.
    const same = Number(sent.same_name) === 1;
    return {
      ...transfer,
      sentBy: transfer.sentBy ?? (same ? sent.sent_by : null) ?? undefined,
      sourcePath: transfer.sourcePath ?? (same ? sent.source_path : null) ??
        undefined,
      chunkSize: sent.chunk_size ?? transfer.chunkSize,
    };
  }

  /** Adds one row to the file's history. */
  async #storeTransfer(
    q: CatalogQueries,
    id: number,
    entry: CatalogEntry,
    transfer: TransferProvenance,
  ): Promise<void> {
    const row: SqlValue[] = [
      id,
      transfer.direction,
      new Date().toISOString(),
      entry.path,
      entry.size,
      entry.sha512,
      transfer.topic,
      transfer.nChunks,
      transfer.chunkSize ?? null,
      transfer.partition ?? null,
      transfer.firstOffset ?? null,
      transfer.lastOffset ?? null,
      transfer.offsets ?? null,
      transfer.firstKafkaTime ?? null,
      transfer.lastKafkaTime ?? null,
      transfer.consumerGroup ?? null,
      transfer.sentBy ?? null,
      transfer.receivedBy ?? null,
      transfer.sourcePath ?? null,
    ];
    await q.query(insertTransferSql(this.#tables), row);
  }

  /**
   * The files whose name matches `nameLike` (a LIKE pattern), each with its
   * every field, its transfer history (oldest first), its segments'
   * TRIGTIME entries and its tags: what `catalog show` prints.
   *
   * @example
   * ```ts
   * const catalog = await Catalog.openForReading("out/catalog.db");
   * const [file] = await catalog.details("pulse.trc");
   * file.transfers.length; // one per trip through Kafka
   * ```
   */
  async details(nameLike: string): Promise<FileDetails[]> {
    const rows = await this.find({ nameLike });
    const result: FileDetails[] = [];
    for (const row of rows) {
      const id = Number(row.id);
      result.push({
        fields: row,
        transfers: await this.#db.query(selectTransfersSql(this.#tables), [id]),
        segments: await this.#db.query(selectSegmentsSql(this.#tables), [id]),
      });
    }
    return result;
  }

  /**
   * Sets `tags` on every file whose name matches `nameLike` (a LIKE
   * pattern); returns the paths tagged.
   *
   * @example
   * ```ts
   * const catalog = await Catalog.open("out/catalog.db");
   * await catalog.tag("C%00042.trc", { sample: "A12", operator: "kim" }); // ["/data/C1Trace00042.trc", ...]
   * ```
   */
  async tag(
    nameLike: string,
    tags: Record<string, string>,
  ): Promise<string[]> {
    return await this.#db.transaction(async (q) => {
      const files = await q.query<{ id: number; path: string }>(
        selectIdsByNameSql(this.#tables),
        [nameLike],
      );
      for (const file of files) {
        for (const [key, value] of Object.entries(tags)) {
          await q.query(upsertTagSql(this.#tables), [file.id, key, value]);
        }
      }
      return files.map((file) => file.path);
    });
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

/** One file as `catalog show` prints it. */
export interface FileDetails {
  /** Every column of the file and its waveform, and its tags. */
  fields: Record<string, unknown>;
  /** Its transfer rows, oldest first. */
  transfers: Record<string, unknown>[];
  /** Its segments' TRIGTIME entries. */
  segments: Record<string, unknown>[];
}

/** The columns each table has now ([] for a table not there yet). */
async function existingColumns(
  q: CatalogQueries,
  dialect: "sqlite" | "postgres",
  tables: CatalogTables,
): Promise<{ files: string[]; waveforms: string[]; transfers: string[] }> {
  const names = async (table: string) =>
    (await q.query<{ name: string }>(tableColumnsSql(dialect, table))).map((
      c,
    ) => c.name);
  return {
    files: await names(tables.files),
    waveforms: await names(tables.waveforms),
    transfers: await names(tables.transfers),
  };
}

/**
 * Reads a `.trc` file's WAVEDESC into `entry` and, when its samples are all
 * there, their statistics, the TRIGTIME entries and the shot key; a file
 * that is no readable waveform gets a warning instead.
 */
async function describeWaveform(
  path: string,
  entry: CatalogEntry,
): Promise<void> {
  readWaveform(path, entry.size, entry);
  const waveform = entry.waveform;
  if (!waveform) return;
  entry.shot = shotKey(
    dirname(path),
    basename(path),
    String(waveform.fields.trigger_time),
  );
  if (!waveform.complete) return;
  try {
    entry.stats = await waveformStats(path, waveform);
    entry.triggers = await segmentTriggers(path, waveform);
  } catch (error) {
    if (!(error instanceof LecroyFormatError)) throw error;
    entry.warning = `no statistics: ${error.message}`;
  }
}

/** Parses a `.trc` file's WAVEDESC into `entry`, or notes what is wrong. */
function readWaveform(path: string, size: number, entry: CatalogEntry): void {
  const file = Deno.openSync(path, { read: true });
  try {
    const head = new Uint8Array(Math.min(size, HEAD_BYTES));
    const read = readFullSync(file, head);
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
