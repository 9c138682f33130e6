/**
 * Run by tests/openssl_sha512_test.ts as its own process (so that its PATH
 * and `--allow-run` can differ): plans the file given in chunks of the size
 * given (default 16 KiB), as an upload's first pass does, reads it again as
 * the second pass does, and prints the whole file's SHA-512 and the SHA-512
 * of all chunk hashes back to back, in hex; or the error's message (exit
 * code 1).
 *
 * @module
 */
import {
  planChunks,
  readPlannedChunks,
} from "../../lib/transfer/file_chunks.ts";
import { sha512, toHex } from "../../lib/transfer/chunk.ts";

try {
  const plan = await planChunks(Deno.args[0], Number(Deno.args[1] ?? 16384));
  const hashes = new Uint8Array(plan.totalChunks * 64);
  for await (const chunk of readPlannedChunks(plan)) {
    hashes.set(chunk.hash, (chunk.index - 1) * 64);
  }
  console.log(toHex(plan.fileHash), toHex(sha512(hashes)));
} catch (error) {
  console.log((error as Error).message);
  Deno.exit(1);
}
