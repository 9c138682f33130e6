/**
 * The catalog as text on a terminal: rows as an aligned table, one file's
 * fields one per line, and a file's history and segments under them (what
 * `deno task catalog list` and `show` print).
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
