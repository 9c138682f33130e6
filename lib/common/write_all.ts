/**
 * Writing every byte. `write` on a file or a socket may write fewer bytes
 * than it was given and say how many; these helpers keep writing until all
 * of them are out, so no caller has to remember the loop.
 *
 * @example
 * ```ts
 * import { writeAll, writeAllSync } from "./write_all.ts";
 *
 * const file = Deno.openSync("out/example.txt", { write: true, create: true });
 * writeAllSync(file, new TextEncoder().encode("one line\n"));
 * await writeAll(file, new TextEncoder().encode("and another\n"));
 * file.close();
 * ```
 *
 * @module
 */

/** Anything with Deno's `write`: files, TCP connections, stdout. */
export interface Writer {
  /** Writes some of `bytes`, resolving with how many. */
  write(bytes: Uint8Array): Promise<number>;
}

/** Anything with Deno's `writeSync`: files, stdout, stderr. */
export interface SyncWriter {
  /** Writes some of `bytes` and returns how many. */
  writeSync(bytes: Uint8Array): number;
}

/**
 * Writes all of `bytes`, however many `write` calls it takes.
 *
 * @example
 * ```ts
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 9999 });
 * await writeAll(conn, new TextEncoder().encode("hello\n"));
 * ```
 */
export async function writeAll(
  writer: Writer,
  bytes: Uint8Array,
): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await writer.write(bytes.subarray(written));
  }
}

/**
 * Writes all of `bytes` at once, however many `writeSync` calls it takes.
 *
 * @example
 * ```ts
 * writeAllSync(Deno.stderr, new TextEncoder().encode("a log line\n"));
 * ```
 */
export function writeAllSync(writer: SyncWriter, bytes: Uint8Array): void {
  for (let written = 0; written < bytes.length;) {
    written += writer.writeSync(bytes.subarray(written));
  }
}
