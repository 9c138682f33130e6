/**
 * # A stream processor: check each file's SHA-512 again, in bounded memory
 *
 * ```sh
 * deno task process_data_files --processor scripts/processors/sha512_check.ts --max_file_mb 64
 * ```
 *
 * The smallest useful processor, and the one `deno task bench_process`
 * measures: it hashes every file it is given and throws if the hash is not
 * the SHA-512 the sender announced. A file up to `--max_file_mb` is hashed
 * from memory; a bigger one is read from disk 1 MiB at a time, so a 1 GB
 * file needs no more memory than a small one.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { DataFile } from "../../lib/transfer/processor_api.ts";

/** The file's SHA-512 as hex, from memory or streamed from disk. */
async function sha512Of(file: DataFile): Promise<string> {
  const hash = createHash("sha512");
  if (file.bytes) return hash.update(file.bytes).digest("hex");
  // The readable stream closes the file at its end.
  const handle = await Deno.open(file.path);
  for await (const block of handle.readable) hash.update(block);
  return hash.digest("hex");
}

/** Hashes one file; a mismatch fails it. */
export async function processFile(file: DataFile): Promise<void> {
  const actual = await sha512Of(file);
  if (actual !== file.sha512) {
    throw new Error(`SHA-512 ${actual.slice(0, 16)}... is not the sender's`);
  }
}
