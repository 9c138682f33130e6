/**
 * Reading and writing CSV one row at a time.
 *
 * Reading streams the file through `csv-parse` (the npm package; the JSR
 * package `@std/csv` is not reachable from the course machines), so a file of
 * any size uses the same small amount of memory. It copes with what real
 * files contain: a UTF-8 byte order mark (BOM) before the header, Windows line
 * endings (CRLF), no newline after the last row, quoted fields with commas or
 * line breaks in them, and blank lines. Every row carries the line number
 * where it starts, and a row whose number of fields differs from the header's
 * is marked instead of stopping the whole file, so a script can warn, skip it
 * and go on.
 *
 * Writing turns one row into one CSV record with `csv-stringify` and writes it
 * at once, so the file on disk is valid CSV after every row, even when the
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
 *   if (!row.wellFormed) {
 *     console.warn(`line ${row.line}: ${row.fields.length} fields`);
 *     continue;
 *   }
 *   out.writeRow(row.fields);
 * }
 * out.close();
 * ```
 *
 * @module
 */
import { parse } from "csv-parse/stream";
import { stringify } from "csv-stringify/sync";
import { describeError, openOutputFile, UserError } from "../common/cli.ts";

/** One data row of a CSV file. */
export interface CsvRow {
  /** The line of the file where the row starts (the header is line 1). */
  line: number;
  /** The row's fields, unquoted. */
  fields: string[];
  /** False when the row has a different number of fields than the header. */
  wellFormed: boolean;
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

/** What csv-parse hands over for each record when `info` is on. */
interface ParsedRecord {
  record: string[];
  info: { empty_lines: number };
}

/**
 * Opens a CSV file for streaming and reads its header.
 *
 * A missing file, a file this program may not read, an empty file, or broken
 * quoting throws {@linkcode UserError} with one line that names the file.
 *
 * @example
 * ```ts
 * const { header, rows } = await openCsvRows("data/batchfile_0_farenheit.csv");
 * console.log(header); // ["Year", "Month", "Day", "Time", "TempF"]
 * for await (const row of rows) console.log(row.line, row.fields);
 * ```
 */
export async function openCsvRows(path: string): Promise<CsvRows> {
  const records = readRecords(path, await openForReading(path));
  const first = await records.next();
  if (first.done) throw new UserError(`input file ${path} is empty`);
  const header = first.value.fields;
  return { header, rows: dataRows(records, header.length) };
}

/** Opens `path`, turning the errors a user can cause into one line. */
async function openForReading(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { read: true });
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

/** Yields every record of the file with the line where it starts. */
async function* readRecords(
  path: string,
  file: Deno.FsFile,
): AsyncGenerator<{ line: number; fields: string[] }> {
  const parser = parse({
    // Drop the byte order mark that spreadsheet programs put before "Year".
    bom: true,
    // Accept Windows (CRLF), Unix (LF) and old Mac (CR) line endings, even
    // mixed in one file, instead of guessing from the first line break.
    record_delimiter: ["\r\n", "\n", "\r"],
    // Hand over rows with too many or too few fields; the caller decides.
    relax_column_count: true,
    // A stray quote inside an unquoted field is kept as a character.
    relax_quotes: true,
    skip_empty_lines: true,
    info: true,
  });
  // csv-parse reports where a record ends, and miscounts CRLF inside quotes,
  // so the start line is counted here: one line per record, plus the line
  // breaks inside its quoted fields, plus the blank lines it skipped.
  let nextLine = 1;
  let blankLinesSoFar = 0;
  try {
    for await (const parsed of file.readable.pipeThrough(parser)) {
      const { record, info } = parsed as ParsedRecord;
      const line = nextLine + (info.empty_lines - blankLinesSoFar);
      blankLinesSoFar = info.empty_lines;
      nextLine = line + 1 + countLineBreaks(record);
      yield { line, fields: record };
    }
  } catch (error) {
    if (error instanceof Error && "code" in error) {
      // csv-parse's messages already name the line, e.g. "Quote Not Closed".
      throw new UserError(`${path} is not valid CSV: ${describeError(error)}`);
    }
    throw error;
  }
}

/** Turns records after the header into rows checked against its width. */
async function* dataRows(
  records: AsyncGenerator<{ line: number; fields: string[] }>,
  headerWidth: number,
): AsyncGenerator<CsvRow> {
  for await (const { line, fields } of records) {
    yield { line, fields, wellFormed: fields.length === headerWidth };
  }
}

/** Counts the line breaks (CRLF, LF or CR) inside a record's fields. */
function countLineBreaks(fields: string[]): number {
  let count = 0;
  for (const field of fields) count += field.match(/\r\n|\r|\n/g)?.length ?? 0;
  return count;
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
  return stringify([fields as string[]], { eof: false });
}

/**
 * Writes a CSV file row by row. Each row goes to the operating system as soon
 * as it is written, so the file is complete and valid after every row.
 *
 * @example
 * ```ts
 * const out = new CsvRowWriter("out/out9.txt");
 * out.writeRow(["Date", "Site", "Count"]);
 * out.writeRow(["2024-04-06", "Heron Marsh, north blind", "3"]);
 * out.close();
 * // out/out9.txt: Date,Site,Count / 2024-04-06,"Heron Marsh, north blind",3
 * ```
 */
export class CsvRowWriter {
  readonly #file: Deno.FsFile;
  readonly #encoder = new TextEncoder();

  /** Creates (or empties) the file at `path`. */
  constructor(path: string) {
    this.#file = openOutputFile(path);
  }

  /** Writes one row, with a line ending, straight to the file. */
  writeRow(fields: readonly string[]): void {
    const bytes = this.#encoder.encode(formatCsvRow(fields) + "\n");
    // writeSync may write less than asked; loop until the whole row is out.
    let written = 0;
    while (written < bytes.length) {
      written += this.#file.writeSync(bytes.subarray(written));
    }
  }

  /** Closes the file. Rows already written are on disk either way. */
  close(): void {
    this.#file.close();
  }
}
