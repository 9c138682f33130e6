/**
 * # Read the lab catalog: which files are there, and what is in them
 *
 * ```sh
 * deno task catalog                                  # = list, a table on the terminal
 * deno task catalog list --instrument wr64 --since 2022-11-01
 * deno task catalog show pulse.trc                   # every field, and its history
 * deno task catalog list --channel 2 --tag sample=A12 --since 2022-10-13T16:00
 * deno task catalog tag 'C?Trace00042.trc' sample=A12 operator=kim
 * deno task catalog export --format json > out/catalog.json
 * deno task catalog list --db postgres://lab@db.lab:5432/catalog --name '*.trc'
 * ```
 *
 * Permissions: `--allow-read` (the SQLite catalog, which may be anywhere:
 * a missing file stays missing), `--allow-write=out` (only `tag` writes, and
 * a catalog made by an older version is upgraded in place), `--allow-net` (only for
 * a `postgres://` catalog), `--allow-env` (`$PGPASSWORD` and the other `PG*`
 * settings the PostgreSQL client reads).
 *
 * metadata_uploader, and the transfer tools with `--catalog`, fill the
 * catalog; this reads it back. `list` shows one line per file with the
 * fields an engineer looks for first (instrument, channel, trigger time,
 * timebase, samples, shot, tags); `show NAME` every field of the files with
 * that name, each trip through Kafka (oldest first) and each segment's
 * trigger time; `export` every field of every file, as CSV (default) or JSON
 * for other tools; `tag NAME key=value...` tags the files with that name.
 * The filters become bound parameters of one SELECT (see
 * lib/catalog/catalog_sql.ts): `--name` is a glob (`*`, `?`), `--since` and
 * `--until` a date or date and time compared with the trigger time as the
 * instrument wrote it (its own clock; other files: modification time, UTC),
 * `--instrument` a piece of the instrument's name, `--channel 2`,
 * `--timebase 200_ns/div`, `--coupling DC_50_Ohms` and `--serial 50699`
 * exact header values, `--shot KEY` one shot, `--tag key=value`
 * (repeatable) files with all those tags. Names and values ignore case.
 *
 * Try: `list --format csv` and open it in a spreadsheet; `show header.trc`.
 *
 * @module
 */
import { runMain, UsageError } from "../lib/common/cli.ts";
import { parseFlags } from "../lib/common/flags.ts";
import {
  Catalog,
  DEFAULT_CATALOG,
  type FileDetails,
} from "../lib/catalog/catalog.ts";
import type { CatalogFilters } from "../lib/catalog/catalog_sql.ts";
import { parseTag, TAG_FLAG, takeTagFlags } from "../lib/catalog/tags.ts";
import { printDetails, printRows } from "../lib/catalog/catalog_text.ts";

const PROGRAM = "catalog";
const COMMANDS = ["list", "show", "export", "tag"];
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
  "shot",
  "tags",
];

/** Reads the command line: the command, its NAME, the flags. */
function readCommandLine() {
  // --tag may come several times: taken out before the flags are parsed.
  const { args, tags } = takeTagFlags(Deno.args);
  const { flags, positionals } = parseFlags(args, {
    program: PROGRAM,
    summary:
      "Show what the lab catalog holds: list, show NAME, export, or tag NAME key=value...",
    positionals: "[list | show NAME | export | tag NAME key=value...]",
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
        choices: ["table", "csv", "json"] as const,
        description: "output format [default: table; csv for export]",
      },
      name: { type: "string", description: "file names matching a glob" },
      since: {
        type: "string",
        description: "triggered (other files: modified) on or after",
      },
      until: {
        type: "string",
        description: "triggered (other files: modified) before",
      },
      instrument: { type: "string", description: "instrument name contains" },
      serial: { type: "string", description: "instrument serial number" },
      channel: { type: "string", description: "channel: 2 or CHANNEL_2" },
      timebase: { type: "string", description: "timebase, e.g. 200_ns/div" },
      coupling: { type: "string", description: "coupling, e.g. DC_50_Ohms" },
      shot: { type: "string", description: "one shot's key (see list)" },
      tag: TAG_FLAG,
    },
  });
  const [command = "list", name, ...extra] = positionals;
  if (!COMMANDS.includes(command)) {
    throw new UsageError(
      `unknown command "${command}": list, show, export or tag`,
    );
  }
  if ((command === "show" || command === "tag") && name === undefined) {
    throw new UsageError(`${command} needs a file NAME`);
  }
  if (command === "tag" && extra.length === 0) {
    throw new UsageError("tag needs NAME and at least one key=value");
  }
  if (
    (command !== "tag" && extra.length > 0) ||
    (command !== "show" && command !== "tag" && name !== undefined)
  ) {
    throw new UsageError(`too many arguments for ${command}`);
  }
  const format = flags.format ?? (command === "export" ? "csv" : "table");
  const newTags = Object.fromEntries(extra.map(parseTag));
  return { ...flags, command, showName: name, format, tags, newTags };
}

/** A glob (`*`, `?`) as a LIKE pattern, with LIKE's own wildcards escaped. */
function globToLike(glob: string): string {
  return glob.replace(/[\\%_]/g, (c) => `\\${c}`).replaceAll("*", "%")
    .replaceAll("?", "_");
}

/** A date, or a date and time, as the instrument writes its trigger time. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?$/;

/** `--since`/`--until` checked: a date, or a date and time, without zone. */
function checkDate(flag: string, text: string): string {
  const normalized = text.replace(" ", "T");
  if (
    !DATE_TIME.test(normalized) ||
    Number.isNaN(new Date(normalized.slice(0, 10)).getTime())
  ) {
    throw new UsageError(
      `--${flag} needs a date like 2026-01-31 or 2026-01-31T14:05, not "${text}"`,
    );
  }
  return normalized;
}

/** The flags as filters; dates and the serial number are checked. */
function filtersFrom(options: ReturnType<typeof readCommandLine>) {
  const filters: CatalogFilters = {};
  const name = options.showName ?? options.name;
  if (name !== undefined) filters.nameLike = globToLike(name);
  if (options.instrument !== undefined) {
    filters.instrumentLike = `%${globToLike(options.instrument)}%`;
  }
  if (options.since !== undefined) {
    filters.since = checkDate("since", options.since);
  }
  if (options.until !== undefined) {
    filters.until = checkDate("until", options.until);
  }
  if (options.serial !== undefined) {
    if (!/^\d{1,9}$/.test(options.serial)) {
      throw new UsageError(`--serial needs a number, not "${options.serial}"`);
    }
    filters.serial = Number(options.serial);
  }
  if (options.channel !== undefined) {
    filters.channel = /^\d$/.test(options.channel)
      ? `CHANNEL_${options.channel}`
      : options.channel;
  }
  if (options.timebase !== undefined) filters.timebase = options.timebase;
  if (options.coupling !== undefined) filters.coupling = options.coupling;
  if (options.shot !== undefined) filters.shot = options.shot;
  const tags = Object.entries(options.tags);
  if (tags.length > 0) filters.tags = tags;
  return filters;
}

/** Tags the files named `name`; one line says how many. */
async function tagFiles(
  options: ReturnType<typeof readCommandLine>,
): Promise<void> {
  const catalog = await Catalog.open(options.db, { table: options.table });
  try {
    const paths = await catalog.tag(
      globToLike(options.showName!),
      options.newTags,
    );
    if (paths.length === 0) {
      throw new UsageError(
        `no file named ${options.showName} in ${catalog.label}`,
      );
    }
    console.log(`Tagged ${paths.length} file(s) in ${catalog.label}`);
  } finally {
    await catalog.close();
  }
}

if (import.meta.main) {
  await runMain(PROGRAM, async () => {
    const options = readCommandLine();
    if (options.command === "tag") return await tagFiles(options);
    const filters = filtersFrom(options);
    const catalog = await Catalog.openForReading(options.db, options.table);
    try {
      const rows = options.command === "show"
        ? await catalog.details(filters.nameLike!)
        : await catalog.find(filters);
      if (rows.length > 0 && options.command === "show") {
        await printDetails(rows as FileDetails[], options.format);
      } else if (rows.length > 0) {
        // list: LIST_COLUMNS; export: every column of the rows found.
        const columns = options.command === "list"
          ? LIST_COLUMNS
          : Object.keys(rows[0]);
        const found = rows as Record<string, unknown>[];
        await printRows(found, columns, options.format);
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
//   name                subdir  size_bytes  source  topic  instrument_name   wave_source  trigger_time                timebase    wave_array_count  subarray_count  shot                                                                tags
//   ------------------  ------  ----------  ------  -----  ----------------  -----------  --------------------------  ----------  ----------------  --------------  ------------------------------------------------------------------  ----------
//   header.trc                  357         file           LECROYWR64Xi-A    CHANNEL_2    2022-10-13T16:29:38.475715  200_ns/div  400400            200             /work/shared/data/lecroy/header@2022-10-13T16:29:38.475715          sample=A12
//   ...
