/**
 * # Catalog files in an SQL database (the CasJobs metadata uploader, ported)
 *
 * ```sh
 * deno task metadata_uploader ../shared/data/lecroy
 * deno task metadata_uploader --thumbnails out/thumbnails ../shared/data/lecroy
 * deno task metadata_uploader --db postgres://lab@db.lab:5432/catalog --recreate runs/
 * ```
 *
 * Permissions: `--allow-read` (the files to catalog are yours to name),
 * `--allow-write=out` (the SQLite catalog and the thumbnails live in out/),
 * `--allow-net` (only used for a `postgres://` catalog, whose server may be
 * anywhere), `--allow-env` (`$PGPASSWORD` and the other `PG*` settings the
 * PostgreSQL client reads).
 *
 * The 2021 original did three things with a file path: connect to a shared
 * database (CasJobs MyDB), create a table, insert one row describing the
 * file. This port does the same, grown up: every PATH is a file or a folder
 * (its files, recursively; a subfolder it may not read is skipped with a
 * warning, and the run ends with exit code 1 after cataloguing the rest);
 * each file gets one row in table `files` (name,
 * folder, size, SHA-512, times), and each LeCroy oscilloscope waveform
 * (`.trc`) one more row in `lecroy_waveforms` with every field of its
 * WAVEDESC header (instrument, trigger time, timebase, ...), the record length,
 * points per segment, min/max/mean/RMS in volts (read as a stream), its shot
 * key (C1..C4 of one acquisition share it), and a sequence's trigger times in
 * `lecroy_segments`. Running it again updates the rows instead of adding new
 * ones: the upsert is keyed on the file's path, and how a file travelled
 * through Kafka (the transfer tools' rows and history) is never erased.
 * `--tag sample=A12` (repeatable) attaches key=value tags to every file. `--recreate` drops and recreates the tables, which the
 * original's author wanted. Every SQL statement is in
 * lib/catalog/catalog_sql.ts, with bound parameters only.
 *
 * The database is an SQLite file by default (`out/catalog.db`); a lab that
 * shares one catalog between machines gives a PostgreSQL URL instead.
 *
 * Try: catalog the samples, then `deno task catalog list`; touch a file and
 * run again (same number of rows, new hash); `--thumbnails out/thumbnails`
 * and open out/thumbnails/index.html.
 *
 * @module
 */
import {
  describeError,
  runMain,
  UsageError,
  UserError,
} from "../lib/common/cli.ts";
import { parseFlags } from "../lib/common/flags.ts";
import { collectCatalogTargets } from "../lib/catalog/catalog_files.ts";
import { Catalog, DEFAULT_CATALOG } from "../lib/catalog/catalog.ts";
import { CatalogDbError } from "../lib/catalog/catalog_db.ts";
import { ThumbnailGallery } from "../lib/catalog/thumbnails.ts";
import { TAG_FLAG, takeTagFlags } from "../lib/catalog/tags.ts";

const PROGRAM = "metadata_uploader";
/** The files table; experiments and operators go in tags (`--tag experiment=E7`). */
const DEFAULT_TABLE = "files";

/** Reads the command line. */
function readCommandLine() {
  // --tag may come several times: taken out before the flags are parsed.
  const { args, tags } = takeTagFlags(Deno.args);
  const { flags, positionals } = parseFlags(args, {
    program: PROGRAM,
    summary:
      "Catalog files (and LeCroy .trc waveform headers) in an SQL database.",
    positionals: "PATH...",
    flags: {
      db: {
        type: "string",
        default: DEFAULT_CATALOG,
        description:
          "SQLite file, or postgres://user@host:port/database (the password in $PGPASSWORD, never in the URL)",
      },
      table: {
        type: "string",
        default: DEFAULT_TABLE,
        description: "files table (waveforms go to lecroy_waveforms beside it)",
      },
      recreate: {
        type: "boolean",
        description: "drop and recreate the tables first",
      },
      thumbnails: {
        type: "string",
        description: "folder for one SVG per waveform and an index.html",
      },
      tag: TAG_FLAG,
    },
  });
  if (positionals.length === 0) throw new UsageError("name at least one PATH");
  return { ...flags, paths: positionals, tags };
}

/** What a run did: files catalogued, waveforms among them, what it could not read. */
interface Counts {
  files: number;
  waveforms: number;
  unreadable: number;
  unreadableFolders: number;
}

/** Prints one warning line. */
function warn(line: string): void {
  console.warn(`${PROGRAM}: warning: ${line}`);
}

/** Catalogs every file under the given paths; returns the counts. */
async function catalogPaths(
  catalog: Catalog,
  paths: string[],
  gallery: ThumbnailGallery | undefined,
  tags: Record<string, string>,
): Promise<Counts> {
  // A folder that cannot be read is skipped with a warning; the rest go on.
  const { targets, unreadableFolders } = await collectCatalogTargets(
    paths,
    warn,
  );
  const counts = { files: 0, waveforms: 0, unreadable: 0, unreadableFolders };
  for (const target of targets) {
    // A file deleted or locked meanwhile is reported; the others go on.
    const entry = await catalog.add(target.path, target.subdir, {
      source: "file",
      tags,
    }).catch(
      (error) => {
        if (error instanceof CatalogDbError) {
          // The database is gone: every row so far is stored, say how many.
          throw new UserError(
            `${error.message}; ${counts.files} of ${targets.length} files were catalogued before (run again for the rest)`,
          );
        }
        if (
          !(error instanceof Deno.errors.NotFound ||
            error instanceof Deno.errors.PermissionDenied)
        ) throw error;
        warn(`${target.path}: ${describeError(error)}`);
        counts.unreadable++;
      },
    );
    if (!entry) continue;
    counts.files++;
    // A bad .trc still has its file row: warn and go on with the others.
    if (entry.warning) warn(`${target.path}: ${entry.warning}`);
    if (entry.waveform) {
      counts.waveforms++;
      const picture = await gallery?.add(entry.path, entry.waveform);
      if (picture?.problem) {
        warn(`${target.path}: no thumbnail: ${picture.problem}`);
      }
    }
  }
  return counts;
}

/** The closing error when something could not be read, or undefined. */
function unreadableError(counts: Counts): UserError | undefined {
  const parts = [];
  if (counts.unreadableFolders > 0) {
    parts.push(`${counts.unreadableFolders} folder(s)`);
  }
  if (counts.unreadable > 0) parts.push(`${counts.unreadable} file(s)`);
  return parts.length === 0
    ? undefined
    : new UserError(`${parts.join(" and ")} could not be read`);
}

if (import.meta.main) {
  await runMain(PROGRAM, async () => {
    const options = readCommandLine();
    if (options.thumbnails === "") {
      throw new UserError("--thumbnails needs a folder");
    }
    const gallery = options.thumbnails === undefined
      ? undefined
      : await ThumbnailGallery.open(options.thumbnails);
    // Connect, and make the tables (dropped first with --recreate).
    const catalog = await Catalog.open(options.db, {
      table: options.table,
      recreate: options.recreate,
    });
    try {
      // Insert (or update) one row per file.
      const counts = await catalogPaths(
        catalog,
        options.paths,
        gallery,
        options.tags,
      );
      await gallery?.writeIndex();
      console.log(
        `Cataloged ${counts.files} files (${counts.waveforms} LeCroy waveforms) into ${catalog.label}`,
      );
      const unreadable = unreadableError(counts);
      if (unreadable) throw unreadable;
    } finally {
      await catalog.close();
    }
  });
}

// A run on the sample captures prints:
//
//   metadata_uploader: warning: ../shared/data/lecroy/header.trc: data cut off: 357 of 804357 bytes
//   Cataloged 6 files (4 LeCroy waveforms) into out/catalog.db:files
