/**
 * Big files of random bytes for benchmarks, written 1 MiB at a time so that
 * a 1 GiB file never sits in memory. Random bytes do not compress, so the
 * numbers measure the transfer, not a codec's luck.
 *
 * @example
 * ```ts
 * import { writeRandomFile } from "./random_file.ts";
 *
 * await writeRandomFile("out/bench/data_256MiB.bin", 256 * 1024 * 1024);
 * ```
 *
 * @module
 */
import { writeAll } from "../common/write_all.ts";

const MIB = 1024 * 1024;
/** crypto.getRandomValues fills at most 64 KiB per call. */
const RANDOM_CALL_BYTES = 65536;

/**
 * Writes `bytes` random bytes to `path` (replacing it) and waits until they
 * are on disk, unless `path` already has exactly that size and `reuse` is
 * set.
 *
 * @example
 * ```ts
 * await writeRandomFile("out/bench/a.bin", 65536, { reuse: true });
 * ```
 */
export async function writeRandomFile(
  path: string,
  bytes: number,
  options: { reuse?: boolean } = {},
): Promise<void> {
  if (options.reuse) {
    const existing = await Deno.stat(path).catch(() => undefined);
    if (existing?.size === bytes) return;
  }
  using file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  const block = new Uint8Array(Math.min(bytes, MIB));
  for (let left = bytes; left > 0; left -= block.length) {
    for (let at = 0; at < block.length; at += RANDOM_CALL_BYTES) {
      crypto.getRandomValues(block.subarray(at, at + RANDOM_CALL_BYTES));
    }
    await writeAll(file, block.subarray(0, Math.min(left, block.length)));
  }
  // On disk before any measured run: a 4 GiB file still being written back
  // shared the machine with the runs after it (the first 256 MiB upload
  // after it ran at 112 MB/s, the next ones at 190-270).
  await file.sync();
}
