/**
 * Run by tests/openssl_sha512_test.ts as its own process (so that its PATH
 * and `--allow-run` can differ): plans the file given in 16 KiB chunks, as an
 * upload's first pass does, and prints the whole file's SHA-512 in hex, or
 * the error's message (exit code 1).
 *
 * @module
 */
import { planChunks } from "../../lib/transfer/file_chunks.ts";
import { toHex } from "../../lib/transfer/chunk.ts";

try {
  const plan = await planChunks(Deno.args[0], 16384);
  plan.close();
  console.log(toHex(plan.fileHash));
} catch (error) {
  console.log((error as Error).message);
  Deno.exit(1);
}
