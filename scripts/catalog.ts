/**
 * # Read the lab catalog: which files are there, and what is in them
 *
 * ```sh
 * deno task catalog                                  # = list, a table on the terminal
 * deno task catalog list --instrument wr64 --since 2022-11-01
 * deno task catalog show pulse.trc                   # every field of one file
 * deno task catalog export --format json > out/catalog.json
 * deno task catalog list --db postgres://lab@db.lab:5432/catalog --name '*.trc'
 * ```
 *
 * Permissions: `--allow-read` (the SQLite catalog, which may be anywhere:
 * nothing is written, a missing file stays missing), `--allow-net` (only for
 * a `postgres://` catalog), `--allow-env` (`$PGPASSWORD` and the other `PG*`
 * settings the PostgreSQL client reads).
 *
 * metadata_uploader, and the transfer tools with `--catalog`, fill the
 * catalog; this reads it back. `list` shows one line per file with the
 * fields an engineer looks for first (instrument, channel, trigger time,
 * timebase, samples); `show NAME` every field of the files with that name;
 * `export` every field of every file, as CSV (default) or JSON for other
 * tools. The filters become bound parameters of one SELECT (see
 * lib/catalog/catalog_sql.ts): `--name` is a glob (`*`, `?`), `--since` a
 * date (files modified then or later, UTC), `--instrument` a piece of the
 * instrument's name; all ignore case.
 *
 * Try: `list --format csv` and open it in a spreadsheet; `show header.trc`.
 *
 * @module
 */
import { stringify } from "csv-stringify/sync";
import { runMain, UsageError } from "../lib/common/cli.ts";
import { parseFlags } from "../lib/common/flags.ts";
import { Catalog, DEFAULT_CATALOG } from "../lib/catalog/catalog.ts";
import type { CatalogFilters } from "../lib/catalog/catalog_sql.ts";

const PROGRAM = "catalog";
const COMMANDS = ["list", "show", "export"];
/** The columns `list` shows; TODO: add the ones your lab searches by. */
const LIST_COLUMNS = [
  "name",
  "subdir",
  "size_bytes",
  "source",
  "topic",
  "instrument_name",
  "wave_source",
  "trigger_time",
  "timebase",
  "wave_array_count",
  "subarray_count",
];

/** Reads the command line: the command, its NAME, the flags. */
function readCommandLine() {
  const { flags, positionals } = parseFlags(Deno.args, {
    program: PROGRAM,
    summary: "Show what the lab catalog holds: list, show NAME, or export.",
    positionals: "[list | show NAME | export]",
    flags: {
      db: {
        type: "string",
        default: DEFAULT_CATALOG,
        description:
          "SQLite file, or postgres://user@host:port/database (the password in $PGPASSWORD, never in the URL)",
      },
      table: { type: "string", default: "files", description: "files table" },
      format: {
        type: "string",
        choices: ["table", "csv", "json"],
        description: "output format [default: table; csv for export]",
      },
      name: { type: "string", description: "file names matching a glob" },
      since: { type: "string", description: "files modified on or after" },
      instrument: { type: "string", description: "instrument name contains" },
    },
  });
  const [command = "list", name, ...extra] = positionals;
  if (!COMMANDS.includes(command)) {
    throw new UsageError(`unknown command "${command}": list, show or export`);
  }
  if (command === "show" && name === undefined) {
    throw new UsageError("show needs a file NAME");
  }
  if (extra.length > 0 || (command !== "show" && name !== undefined)) {
    throw new UsageError(`too many arguments for ${command}`);
  }
  const format = flags.format ?? (command === "export" ? "csv" : "table");
  return { ...flags, command, showName: name, format };
}

/** A glob (`*`, `?`) as a LIKE pattern, with LIKE's own wildcards escaped. */
function globToLike(glob: string): string {
  return glob.replace(/[\\%_]/g, (c) => `\\${c}`).replaceAll("*", "%")
    .replaceAll("?", "_");
}

/** The flags as filters; `--since` must be a date. */
function filtersFrom(options: ReturnType<typeof readCommandLine>) {
  const filters: CatalogFilters = {};
  const name = options.showName ?? options.name;
  if (name !== undefined) filters.nameLike = globToLike(name);
  if (options.instrument !== undefined) {
    filters.instrumentLike = `%${globToLike(options.instrument)}%`;
  }
  if (options.since !== undefined) {
    const since = new Date(options.since);
    if (Number.isNaN(since.getTime())) {
      throw new UsageError(
        `--since needs a date like 2026-01-31, not "${options.since}"`,
      );
    }
    filters.since = since.toISOString();
  }
  return filters;
}

/** Rows as an aligned text table. */
function formatTable(
  rows: Record<string, unknown>[],
  columns: string[],
): string {
  const cells = rows.map((row) => columns.map((c) => String(row[c] ?? "")));
  const widths = columns.map((c, i) =>
    Math.max(c.length, ...cells.map((line) => line[i].length))
  );
  const line = (values: string[]) =>
    values.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
  return [
    line(columns),
    line(widths.map((w) => "-".repeat(w))),
    ...cells.map(line),
  ]
    .join("\n");
}

/** One file's every field, one per line (`show` on a terminal). */
function formatFields(row: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(row).map((k) => k.length));
  return Object.entries(row).map(([key, value]) =>
    `${key.padEnd(width)}  ${value ?? ""}`
  ).join("\n");
}

/** Prints the rows in the chosen format. */
function printRows(
  rows: Record<string, unknown>[],
  command: string,
  format: string,
): void {
  // Only the waveform columns of files that have some are worth showing.
  const columns = command === "list" ? LIST_COLUMNS : Object.keys(rows[0]);
  if (format === "json") {
    const picked = rows.map((row) =>
      Object.fromEntries(columns.map((c) => [c, row[c] ?? null]))
    );
    console.log(JSON.stringify(picked, null, 2));
  } else if (format === "csv") {
    Deno.stdout.writeSync(
      new TextEncoder().encode(stringify(rows, { header: true, columns })),
    );
  } else if (command === "show") {
    console.log(rows.map(formatFields).join("\n\n"));
  } else {
    console.log(formatTable(rows, columns));
  }
}

if (import.meta.main) {
  await runMain(PROGRAM, async () => {
    const options = readCommandLine();
    const filters = filtersFrom(options);
    const catalog = await Catalog.openForReading(options.db, options.table);
    try {
      const rows = await catalog.find(filters);
      if (rows.length > 0) {
        printRows(rows, options.command, options.format);
      } else if (Object.keys(filters).length > 0) {
        console.log(`No file in ${catalog.label} matches.`);
      } else {
        console.log(`The catalog ${catalog.label} is empty.`);
      }
    } finally {
      await catalog.close();
    }
  });
}

// `deno task catalog list --name '*.trc'` after cataloguing the samples prints:
//
//   name                subdir  size_bytes  source  topic  instrument_name   wave_source  trigger_time                timebase    wave_array_count  subarray_count
//   ------------------  ------  ----------  ------  -----  ----------------  -----------  --------------------------  ----------  ----------------  --------------
//   header.trc                  357         file           LECROYWR64Xi-A    CHANNEL_2    2022-10-13T16:29:38.475715  200_ns/div  400400            200
//   ...
