/**
 * `--catalog [DB]` for the transfer tools: every file sent to Kafka, and
 * every file rebuilt from it, gets its catalog row.
 *
 * The uploaders record a file (source 'file', topic, chunks) once Kafka has
 * acknowledged all of it. The reconstructor records a file (source 'kafka')
 * once its SHA-512 is verified and it is in place. A reconstructor killed
 * between the move and the row leaves the row missing; on the next start
 * {@linkcode TransferCatalog.repairRebuilt} compares the files its own record
 * says it moved into place with the catalog and writes the missing rows. The
 * upsert on the path means a row is never there twice.
 *
 * @example
 * ```ts
 * import { CATALOG_FLAG, TransferCatalog, withCatalogValue } from "./transfer_catalog.ts";
 *
 * const args = withCatalogValue(["--catalog", "data/a.bin"]); // ["--catalog=out/catalog.db", "data/a.bin"]
 * const catalog = await TransferCatalog.open("out/catalog.db", console.warn);
 * await catalog?.fileSent("data/a.bin", "", { topic: "lecroy_files", nChunks: 1, chunkSize: 16384 });
 * await catalog?.close();
 * ```
 *
 * @module
 */
import { join, resolve } from "node:path";
import { describeError, UsageError } from "../common/cli.ts";
import type { MessagePosition } from "../kafka/consumer_loop.ts";
import {
  ChunkPositions,
  type PositionSummary,
} from "../kafka/chunk_positions.ts";
import { toHex } from "../transfer/chunk.ts";
import { ReconstructState } from "../transfer/reconstruct_state.ts";
import { STATE_FOLDER } from "../transfer/safe_paths.ts";
import {
  Catalog,
  DEFAULT_CATALOG,
  type FileOrigin,
  type TransferProvenance,
} from "./catalog.ts";
import { checkPostgresUrl, isPostgresUrl } from "./catalog_db.ts";

/**
 * The flag definition (for `parseFlags`), after {@linkcode withCatalogValue}
 * has given a bare `--catalog` its default value.
 */
export const CATALOG_FLAG = {
  type: "string",
  description:
    `--catalog[=DB]: record each file in the catalog (${DEFAULT_CATALOG}, or a postgres:// URL)`,
} as const;

/** A value that names a catalog, not a file or folder to transfer. */
const LOOKS_LIKE_DB = /^postgres(ql)?:\/\/|\.(db|sqlite3?)$/i;

/**
 * `args` with `--catalog` given its value: `--catalog=DB` and `--catalog DB`
 * (when DB ends in `.db`/`.sqlite` or is a `postgres://` URL) name the
 * catalog; a bare `--catalog` means {@linkcode DEFAULT_CATALOG}, so that it
 * never swallows the path after it. A `postgres://` URL that cannot work
 * (a port that is no number, say) throws a {@linkcode UsageError} that shows
 * it without its password.
 *
 * @example
 * ```ts
 * withCatalogValue(["--catalog", "out/rebuilt"]); // ["--catalog=out/catalog.db", "out/rebuilt"]
 * withCatalogValue(["--catalog", "out/lab.db", "x"]); // ["--catalog=out/lab.db", "x"]
 * ```
 */
export function withCatalogValue(args: string[]): string[] {
  const result: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== "--catalog") {
      result.push(args[i]);
    } else if (i + 1 < args.length && LOOKS_LIKE_DB.test(args[i + 1])) {
      result.push(`--catalog=${args[++i]}`);
    } else {
      result.push(`--catalog=${DEFAULT_CATALOG}`);
    }
  }
  // A URL that cannot work is one line (without its password) at once,
  // before any file is sent or Kafka is asked anything.
  for (const arg of result) {
    const value = arg.match(/^--catalog=(.*)$/s)?.[1];
    if (value !== undefined && isPostgresUrl(value)) checkPostgresUrl(value);
  }
  return result;
}

/** How a file travelled: its topic and chunks, and where Kafka put them. */
export interface Transfer {
  /** The Kafka topic. */
  topic: string;
  /** The number of chunks. */
  nChunks: number;
  /** Bytes per chunk (all but the last). */
  chunkSize: number;
  /** Partitions, offsets and times from Kafka's acknowledgements. */
  positions?: PositionSummary;
}

/** This machine's name, or undefined where the task may not ask for it. */
function hostName(): string | undefined {
  try {
    return Deno.hostname();
  } catch {
    return undefined;
  }
}

/** The catalog as the transfer tools use it. */
export class TransferCatalog {
  readonly #catalog: Catalog;
  readonly #warn: (message: string) => void;
  readonly #tags: Record<string, string>;

  private constructor(
    catalog: Catalog,
    warn: (message: string) => void,
    tags: Record<string, string>,
  ) {
    this.#catalog = catalog;
    this.#warn = warn;
    this.#tags = tags;
  }

  /**
   * Opens the catalog named by `--catalog`, or returns undefined without the
   * flag. `warn` prints one line (a `.trc` that is no LeCroy file, a row
   * that could not be written). `tags` (from `--tag`) go on every file
   * recorded; they need the catalog flag.
   *
   * @example
   * ```ts
   * const catalog = await TransferCatalog.open("out/catalog.db", (line) => console.warn(line), { sample: "A12" });
   * ```
   */
  static async open(
    target: string | undefined,
    warn: (message: string) => void,
    tags: Record<string, string> = {},
  ): Promise<TransferCatalog | undefined> {
    if (target === undefined) {
      if (Object.keys(tags).length > 0) {
        throw new UsageError("--tag needs --catalog");
      }
      return undefined;
    }
    return new TransferCatalog(await Catalog.open(target), warn, tags);
  }

  /** Where the catalog is (no password). */
  get label(): string {
    return this.#catalog.label;
  }

  /**
   * Records a file every chunk of which Kafka acknowledged (source 'file').
   *
   * @example
   * ```ts
   * const catalog = (await TransferCatalog.open("out/catalog.db", console.warn))!;
   * await catalog.fileSent("runs/day1/a.trc", "day1", { topic: "lecroy_files", nChunks: 3, chunkSize: 16384 });
   * ```
   */
  async fileSent(
    path: string,
    subdir: string,
    transfer: Transfer,
  ): Promise<void> {
    await this.#add(path, subdir, {
      source: "file",
      transfer: {
        direction: "sent",
        topic: transfer.topic,
        nChunks: transfer.nChunks,
        chunkSize: transfer.chunkSize,
        ...transfer.positions,
        sentBy: hostName(),
        sourcePath: resolve(path),
      },
    });
  }

  /**
   * Records a file moved into place under `workingDir` (source 'kafka'),
   * with the chunks the reconstructor's record has for it.
   *
   * @example
   * ```ts
   * const catalog = (await TransferCatalog.open("out/catalog.db", console.warn))!;
   * await catalog.fileRebuilt("out/rebuilt", "day1/a.trc", { topic: "lecroy_files", receivedBy: "labpc1 (pid 4242)" });
   * ```
   */
  async fileRebuilt(
    workingDir: string,
    relativePath: string,
    reader: RebuiltBy & { positions?: PositionSummary },
  ): Promise<void> {
    const state = openState(workingDir);
    try {
      const record = state.reconstructedFiles(relativePath).at(-1);
      if (!record) return;
      await this.#add(
        join(workingDir, ...relativePath.split("/")),
        subdirOf(relativePath),
        rebuiltOrigin(record, reader),
      );
    } finally {
      state.close();
    }
  }

  /**
   * Writes the rows missing for files that the reconstructor moved into place
   * under `workingDir` (killed before it could write them); returns how many.
   *
   * @example
   * ```ts
   * const catalog = (await TransferCatalog.open("out/catalog.db", console.warn))!;
   * await catalog.repairRebuilt("out/rebuilt", { topic: "lecroy_files", receivedBy: "labpc1" }); // 0
   * ```
   */
  async repairRebuilt(workingDir: string, reader: RebuiltBy): Promise<number> {
    const root = await Deno.realPath(workingDir);
    const known = await this.#catalog.hashesBySource("kafka");
    const state = openState(root);
    let repaired = 0;
    try {
      // The newest version of each path is the one on disk.
      const latest = new Map(
        state.reconstructedFiles().map((r) => [r.relativePath, r]),
      );
      for (const [relativePath, record] of latest) {
        const path = join(root, ...relativePath.split("/"));
        if (known.get(path) === toHex(record.fileHash)) continue;
        if (!await Deno.stat(path).then((i) => i.isFile, () => false)) {
          continue;
        }
        await this.#add(
          path,
          subdirOf(relativePath),
          rebuiltOrigin(record, reader),
        );
        repaired++;
      }
    } finally {
      state.close();
    }
    return repaired;
  }

  /** Stores one file's rows; a failure is a warning, not the end of the run. */
  async #add(
    path: string,
    subdir: string,
    origin: FileOrigin,
  ): Promise<void> {
    try {
      const entry = await this.#catalog.add(path, subdir, {
        ...origin,
        tags: this.#tags,
      });
      if (entry.warning) this.#warn(`${path}: ${entry.warning}`);
    } catch (error) {
      this.#warn(
        `${path} not recorded in the catalog ${this.label}: ${
          describeError(error)
        }`,
      );
    }
  }

  /**
   * Closes the connection.
   *
   * @example
   * ```ts
   * const catalog = (await TransferCatalog.open("out/catalog.db", console.warn))!;
   * await catalog.close();
   * ```
   */
  async close(): Promise<void> {
    await this.#catalog.close();
  }
}

/** Who read a rebuilt file from Kafka. */
export interface RebuiltBy {
  /** The topic. */
  topic: string;
  /** The consumer group. */
  consumerGroup?: string;
  /** The host (and pid) that rebuilt it. */
  receivedBy?: string;
}

/** The origin of a rebuilt file: the reconstructor's record and who read it. */
function rebuiltOrigin(
  record: { totalChunks: number; chunkSize: number },
  reader: RebuiltBy & { positions?: PositionSummary },
): FileOrigin {
  const transfer: TransferProvenance = {
    direction: "rebuilt",
    topic: reader.topic,
    nChunks: record.totalChunks,
    // One chunk tells only its own length, not the sender's chunk size.
    chunkSize: record.totalChunks > 1 ? record.chunkSize : undefined,
    consumerGroup: reader.consumerGroup,
    receivedBy: reader.receivedBy,
    ...reader.positions,
  };
  return { source: "kafka", transfer };
}

/** The reconstructor's own record inside its working folder. */
function openState(workingDir: string): ReconstructState {
  return new ReconstructState(join(workingDir, STATE_FOLDER, "state.db"));
}

/** The folder part of a POSIX relative path, '' at the top. */
function subdirOf(relativePath: string): string {
  const slash = relativePath.lastIndexOf("/");
  return slash < 0 ? "" : relativePath.slice(0, slash);
}

/** The reconstructor's catalog, and what records each file it rebuilds. */
export interface RebuiltCatalog {
  /** The catalog open, to close at the end; undefined without `--catalog`. */
  catalog?: TransferCatalog;
  /** Notes where a chunk of the file at `relativePath` was read. */
  chunkRead?: (relativePath: string, where: MessagePosition) => void;
  /** Writes the row of a file moved into place; undefined without a catalog. */
  rebuilt?: (relativePath: string) => Promise<void>;
}

/**
 * Opens the reconstructor's catalog (if asked for), writes the rows a crash
 * kept out, and returns what notes each chunk read and records each file
 * rebuilt by this host and run.
 *
 * @example
 * ```ts
 * import { openRebuiltCatalog } from "./transfer_catalog.ts";
 *
 * const { catalog, rebuilt } = await openRebuiltCatalog("out/catalog.db", "out/rebuilt", {
 *   topic: "lecroy_files", consumerGroup: "lab", warn: console.warn,
 * });
 * await rebuilt?.("day1/a.trc");
 * await catalog?.close();
 * ```
 */
export async function openRebuiltCatalog(
  target: string | undefined,
  workingDir: string,
  options: {
    topic: string;
    consumerGroup?: string;
    warn: (message: string) => void;
    tags?: Record<string, string>;
  },
): Promise<RebuiltCatalog> {
  // Rows a crash kept out of the catalog are written now.
  const catalog = await TransferCatalog.open(
    target,
    options.warn,
    options.tags,
  );
  if (!catalog) return {};
  // Which member of a group rebuilt a file: this host (and this run's pid).
  const host = hostName() ?? "unknown host";
  const reader = { topic: options.topic, consumerGroup: options.consumerGroup };
  await catalog.repairRebuilt(workingDir, { ...reader, receivedBy: host });
  // Where each file's chunks were read, until the file is whole.
  const reading = new Map<string, ChunkPositions>();
  const chunkRead = (relativePath: string, where: MessagePosition) => {
    // A chunk read back from the repartition topic (another sender spread
    // its file over partitions) has no place in the topic it was sent to.
    if (where.topic !== options.topic) return;
    let positions = reading.get(relativePath);
    if (!positions) reading.set(relativePath, positions = new ChunkPositions());
    positions.note(
      where.partition,
      Number(where.offset),
      where.timestamp === undefined ? undefined : Number(where.timestamp),
    );
  };
  const rebuilt = (relativePath: string) => {
    const positions = reading.get(relativePath)?.summary();
    reading.delete(relativePath);
    return catalog.fileRebuilt(workingDir, relativePath, {
      ...reader,
      receivedBy: `${host} (pid ${Deno.pid})`,
      positions,
    });
  };
  return { catalog, chunkRead, rebuilt };
}
