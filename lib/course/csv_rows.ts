/**
 * Reading and writing CSV one row at a time.
 *
 * Reading streams the file line by line, so a file of any size uses the same
 * small amount of memory. The parsing is this module's own (RFC 4180, a few
 * dozen lines): the course loads no npm package, and the JSR package
 * `@std/csv` is not reachable from the course machines. It copes with what real
 * files contain: a UTF-8 byte order mark (BOM) before the header, Windows line
 * endings (CRLF), no newline after the last row, quoted fields with commas or
 * line breaks in them, and blank lines. Every row carries the line number
 * where it starts. A row whose number of fields differs from the header's,
 * or whose quote is never closed, is marked with its problem instead of
 * stopping the whole file, so a script can warn, skip it and go on with the
 * next line.
 *
 * Lines come from lib/common/lines.ts; each record (a line, or several when a
 * quoted field holds line breaks) is then split into its fields.
 *
 * Writing turns one row into one CSV record (fields with commas, quotes or
 * line breaks quoted, quotes doubled) and writes it at once, so the file on disk is valid CSV after every row, even when the
 * program is stopped half-way.
 *
 * @example
 * ```ts
 * import { CsvRowWriter, openCsvRows } from "./csv_rows.ts";
 *
 * const csv = await openCsvRows("data/bird_counts_2024.csv");
 * const out = new CsvRowWriter("out/copy.csv");
 * out.writeRow(csv.header);
 * for await (const row of csv.rows) {
 *   if (row.problem) {
 *     console.warn(`line ${row.line}: ${row.problem}`);
 *     continue;
 *   }
 *   out.writeRow(row.fields);
 * }
 * out.close();
 * ```
 *
 * @module
 */
import { openOutputFile, UserError } from "../common/cli.ts";
import { readLines } from "../common/lines.ts";
import { writeAllSync } from "../common/write_all.ts";

/** One data row of a CSV file. */
export interface CsvRow {
  /** The line of the file where the row starts (the header is line 1). */
  line: number;
  /** The row's fields, unquoted (empty when the quoting is broken). */
  fields: string[];
  /**
   * Why the row cannot be used, e.g. `2 fields, expected 3` or
   * `a quote that is never closed`; undefined for a good row.
   */
  problem?: string;
}

/** An open CSV file: its header, read at once, and its rows, read on demand. */
export interface CsvRows {
  /** The first record of the file, without the BOM. */
  header: string[];
  /**
   * The data rows in file order. Each row is read from disk only when the
   * loop asks for it; leaving the loop early closes the file.
   */
  rows: AsyncIterable<CsvRow>;
}

/**
 * A quoted field may hold line breaks, but a record that grows past this
 * size is taken for a quote that is never closed (memory stays bounded).
 */
const MAX_RECORD_CHARS = 1024 * 1024;

/**
 * Opens a CSV file for streaming and reads its header.
 *
 * A missing file, a file this program may not read, an empty file, or a
 * broken header throws {@linkcode UserError} with one line that names the file.
 *
 * @example
 * ```ts
 * const { header, rows } = await openCsvRows("data/batchfile_0_farenheit.csv");
 * console.log(header); // ["Year", "Month", "Day", "Time", "TempF"]
 * for await (const row of rows) console.log(row.line, row.fields);
 * ```
 */
export async function openCsvRows(path: string): Promise<CsvRows> {
  const file = await openForReading(path);
  const records = readRecords(readLines(file.readable, { keepEnds: true }));
  const first = await records.next();
  if (first.done) throw new UserError(`input file ${path} is empty`);
  if (first.value.problem) {
    await records.return(undefined);
    throw new UserError(
      `${path} is not valid CSV: its header has ${first.value.problem}`,
    );
  }
  const header = first.value.fields;
  return { header, rows: dataRows(records, header.length) };
}

/** Opens `path`, turning the errors a user can cause into one line. */
async function openForReading(path: string): Promise<Deno.FsFile> {
  try {
    const file = await Deno.open(path, { read: true });
    // Opening a folder works on Linux; reading it would fail without a name.
    if ((await file.stat()).isDirectory) {
      file.close();
      throw new Deno.errors.IsADirectory(path);
    }
    return file;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UserError(`input file ${path} not found`);
    }
    if (error instanceof Deno.errors.NotCapable) {
      throw new UserError(
        `this task may not read ${path}; put the file in data/ or grant --allow-read for its folder`,
      );
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new UserError(`input ${path} is a folder, not a CSV file`);
    }
    throw error;
  }
}

/**
 * Groups lines (with their endings) into records and parses each one. A
 * record with broken quoting becomes a row with a problem, and reading goes
 * on at the line after the one where that record started.
 */
async function* readRecords(
  lines: AsyncIterable<string>,
): AsyncGenerator<CsvRow> {
  let lineNumber = 0;
  // Lines of the record being read; `replay` holds lines to read again.
  let record: string[] = [];
  let start = 0;
  const replay: string[] = [];
  const source = lines[Symbol.asyncIterator]();
  const nextLine = async () => {
    if (replay.length > 0) return replay.shift();
    const next = await source.next();
    return next.done ? undefined : next.value;
  };
  try {
    while (true) {
      const line = await nextLine();
      if (line === undefined && record.length === 0) return;
      if (line !== undefined) {
        lineNumber++;
        if (record.length === 0) start = lineNumber;
        // Blank lines between records are skipped (they still count).
        if (record.length === 0 && line.trim() === "") continue;
        record.push(line);
      }
      const text = record.join("");
      const open = endsInsideQuotes(text);
      const more = line !== undefined && text.length < MAX_RECORD_CHARS;
      if (open && more) continue;
      const fields = open ? undefined : parseRecord(text);
      if (fields) {
        yield { line: start, fields };
      } else {
        const problem = open
          ? "a quote that is never closed"
          : "broken quoting (text after a closing quote)";
        yield { line: start, fields: [], problem };
        // Read the lines after the broken record's first one again.
        replay.unshift(...record.slice(1));
        lineNumber = start;
      }
      record = [];
    }
  } finally {
    // Leaving the loop early closes the file.
    await source.return?.();
  }
}

/**
 * The fields of one record (its line ending, if any, is left off), or
 * undefined when its quoting is broken: a quote never closed, or text after a
 * closing quote. A quote inside an unquoted field is kept as a character.
 */
function parseRecord(text: string): string[] | undefined {
  const record = text.replace(/(\r\n|\n|\r)$/, "");
  const fields: string[] = [];
  let i = 0;
  while (true) {
    if (record[i] !== '"') {
      // An unquoted field runs to the next comma.
      const comma = record.indexOf(",", i);
      if (comma < 0) return [...fields, record.slice(i)];
      fields.push(record.slice(i, comma));
      i = comma + 1;
      continue;
    }
    // A quoted field runs to a quote that is not doubled ("" is one quote).
    let value = "";
    for (i++;;) {
      const quote = record.indexOf('"', i);
      if (quote < 0) return undefined;
      value += record.slice(i, quote);
      i = quote + 1;
      if (record[i] !== '"') break;
      value += '"';
      i++;
    }
    fields.push(value);
    if (i === record.length) return fields;
    if (record[i] !== ",") return undefined;
    i++;
  }
}

/**
 * Tells whether `text` ends inside a quoted field: then the record goes on
 * at the next line. A quote opens a field only at its start (elsewhere it is
 * a plain character) and `""` inside quotes is an escaped quote.
 */
function endsInsideQuotes(text: string): boolean {
  let quoted = false;
  let fieldStart = true;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char !== '"') continue;
      if (text[i + 1] === '"') i++;
      else quoted = false;
    } else if (char === '"' && fieldStart) {
      quoted = true;
    }
    fieldStart = !quoted && (char === "," || char === "\n" || char === "\r");
  }
  return quoted;
}

/** Turns records after the header into rows checked against its width. */
async function* dataRows(
  records: AsyncGenerator<CsvRow>,
  headerWidth: number,
): AsyncGenerator<CsvRow> {
  for await (const row of records) {
    if (row.problem || row.fields.length === headerWidth) yield row;
    else {
      const problem = `${row.fields.length} fields, expected ${headerWidth}`;
      yield { ...row, problem };
    }
  }
}

/**
 * Formats one row as a CSV record, without a line ending: fields with commas,
 * quotes or line breaks are quoted, and quotes inside them are doubled.
 *
 * @example
 * ```ts
 * formatCsvRow(["2024-04-06", "Heron Marsh, north blind", "3"]);
 * // '2024-04-06,"Heron Marsh, north blind",3'
 * ```
 */
export function formatCsvRow(fields: readonly string[]): string {
  return fields.map((field) =>
    /[",\r\n]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field
  ).join(",");
}

/**
 * Checks that a row made by `producer` (a function's name, as the message
 * shows it) fits the header it will be written under: as many fields as the
 * header. Otherwise throws {@linkcode UserError} with one line naming the
 * producer, the input line the row came from and the header.
 *
 * @example
 * ```ts
 * checkRowWidth(["a", "b"], ["Date", "Count"], 2, "transformRow()"); // fits
 * checkRowWidth(["a"], ["Date", "Count"], 3, "transformRow()");
 * // UserError: transformRow() returned 1 fields for line 3, but the header
 * // has 2: Date,Count
 * ```
 */
export function checkRowWidth(
  row: readonly string[],
  header: readonly string[],
  line: number,
  producer: string,
): void {
  if (row.length === header.length) return;
  throw new UserError(
    `${producer} returned ${row.length} fields for line ${line}, ` +
      `but the header has ${header.length}: ${header.join(",")}`,
  );
}

/**
 * Writes a CSV file row by row. Each row goes to the operating system as soon
 * as it is written, so the file is complete and valid after every row.
 *
 * @example
 * ```ts
 * const out = new CsvRowWriter("out/out9.txt", ["Date", "Site", "Count"]);
 * out.writeRow(["2024-04-06", "Heron Marsh, north blind", "3"]);
 * out.close();
 * // out/out9.txt: Date,Site,Count / 2024-04-06,"Heron Marsh, north blind",3
 * ```
 */
export class CsvRowWriter {
  readonly #file: Deno.FsFile;
  readonly #encoder = new TextEncoder();

  /** Creates (or empties) `path`; `header`, if given, is its first row. */
  constructor(path: string, header?: readonly string[]) {
    this.#file = openOutputFile(path);
    if (header) this.writeRow(header);
  }

  /** Writes one row, with a line ending, straight to the file. */
  writeRow(fields: readonly string[]): void {
    writeAllSync(this.#file, this.#encoder.encode(formatCsvRow(fields) + "\n"));
  }

  /** Closes the file. Rows already written are on disk either way. */
  close(): void {
    this.#file.close();
  }
}
