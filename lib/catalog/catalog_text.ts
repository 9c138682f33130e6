/**
 * The catalog as text on a terminal: rows as an aligned table, one file's
 * fields one per line, and a file's history and segments under them (what
 * `deno task catalog list` and `show` print); and rows or files printed in the
 * format `--format` chose: that text, CSV or JSON.
 *
 * @example
 * ```ts
 * import { formatTable } from "./catalog_text.ts";
 *
 * formatTable([{ name: "a.trc", size_bytes: 1361 }], ["name", "size_bytes"]);
 * // "name   size_bytes\n-----  ----------\na.trc  1361"
 * ```
 *
 * @module
 */
import { writeAllSync } from "../common/write_all.ts";
import type { FileDetails } from "./catalog.ts";

export type { FileDetails } from "./catalog.ts";

/** The history columns `show` prints for each transfer, when set. */
export const HISTORY_COLUMNS: readonly string[] = [
  "direction",
  "recorded_at",
  "topic",
  "kafka_partition",
  "first_offset",
  "last_offset",
  "offsets",
  "first_kafka_time",
  "last_kafka_time",
  "n_chunks",
  "chunk_size",
  "consumer_group",
  "sent_by",
  "received_by",
  "source_path",
];

/**
 * Rows as an aligned text table of `columns`.
 *
 * @example
 * ```ts
 * formatTable([{ name: "a.trc" }], ["name"]); // "name\n-----\na.trc"
 * ```
 */
export function formatTable(
  rows: Record<string, unknown>[],
  columns: readonly string[],
): string {
  const cells = rows.map((row) => columns.map((c) => String(row[c] ?? "")));
  const widths = columns.map((c, i) =>
    Math.max(c.length, ...cells.map((line) => line[i].length))
  );
  const line = (values: string[]) =>
    values.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
  return [
    line([...columns]),
    line(widths.map((w) => "-".repeat(w))),
    ...cells.map(line),
  ].join("\n");
}

/**
 * One row's every field, one per line.
 *
 * @example
 * ```ts
 * formatFields({ name: "a.trc", topic: null }); // "name   a.trc\ntopic  "
 * ```
 */
export function formatFields(row: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(row).map((k) => k.length));
  return Object.entries(row).map(([key, value]) =>
    `${key.padEnd(width)}  ${value ?? ""}`
  ).join("\n");
}

/**
 * One file's fields, then its history (one line per transfer, oldest
 * first) and its segments' trigger times.
 *
 * @example
 * ```ts
 * formatDetails({ fields: { name: "a.trc" }, transfers: [], segments: [] });
 * // "name  a.trc\nhistory (0 transfers, oldest first):"
 * ```
 */
export function formatDetails(file: FileDetails): string {
  const lines = [formatFields(file.fields)];
  const n = file.transfers.length;
  lines.push(`history (${n} transfer${n === 1 ? "" : "s"}, oldest first):`);
  for (const transfer of file.transfers) {
    lines.push(
      "  " + HISTORY_COLUMNS.filter((c) => transfer[c] != null)
        .map((c) => `${c}=${transfer[c]}`).join(" "),
    );
  }
  if (file.segments.length > 0) {
    lines.push("segments (trigger seconds after the first, horiz_offset):");
    for (const s of file.segments) {
      lines.push(`  ${s.segment}  ${s.trigger_seconds}  ${s.horiz_offset}`);
    }
  }
  return lines.join("\n");
}

/** The formats `catalog --format` prints in. */
export type OutputFormat = "table" | "csv" | "json";

/**
 * Prints rows to stdout: as JSON (`columns` only, a missing one `null`), as
 * CSV (a header row of `columns`, then the rows), or as an aligned table of
 * `columns` ({@linkcode formatTable}).
 *
 * @example
 * ```ts
 * await printRows([{ name: "a.trc", size_bytes: 1361 }], ["name"], "csv");
 * // name
 * // a.trc
 * ```
 */
export async function printRows(
  rows: Record<string, unknown>[],
  columns: readonly string[],
  format: OutputFormat,
): Promise<void> {
  if (format === "json") {
    const picked = rows.map((row) =>
      Object.fromEntries(columns.map((c) => [c, row[c] ?? null]))
    );
    console.log(JSON.stringify(picked, null, 2));
  } else if (format === "csv") {
    // npm csv-stringify, loaded when needed: its typings (Node's, from npm)
    // are not for `deno doc`, which warns about them.
    const { stringify } = await import("csv-stringify/sync");
    const text = stringify(rows, { header: true, columns: [...columns] });
    writeAllSync(Deno.stdout, new TextEncoder().encode(text)); // every byte
  } else {
    console.log(formatTable(rows, columns));
  }
}

/**
 * Prints what `show` found, files with their history and segments: as JSON
 * (everything), as CSV (their fields, one row each) or as text
 * ({@linkcode formatDetails}, a blank line between files).
 *
 * @example
 * ```ts
 * const file = { fields: { name: "a.trc" }, transfers: [], segments: [] };
 * await printDetails([file], "table");
 * // name  a.trc
 * // history (0 transfers, oldest first):
 * ```
 */
export async function printDetails(
  files: FileDetails[],
  format: OutputFormat,
): Promise<void> {
  if (format === "json") console.log(JSON.stringify(files, null, 2));
  else if (format === "csv") {
    const rows = files.map((file) => file.fields);
    await printRows(rows, Object.keys(rows[0]), "csv");
  } else console.log(files.map(formatDetails).join("\n\n"));
}
