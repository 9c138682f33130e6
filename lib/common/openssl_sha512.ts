/**
 * The SHA-512 of a whole file by the `openssl` program, where it runs: a
 * process of its own (so a core of its own) at OpenSSL's speed, which on this
 * project's 2-core machine is 1.4 times node:crypto's (870 against 615 MB/s
 * for 1 MiB blocks, `openssl speed -evp sha512` against `createHash`). An
 * upload must know a file's hash before its first chunk goes, so a big
 * file's first pass waits for it (issue 22: see the README's Benchmark
 * section, "The whole file's hash by OpenSSL, and no code cache").
 *
 * When `openssl` cannot run (not installed, as on most Windows machines, or
 * not allowed: the task grants `--allow-run=openssl`), the answer is
 * undefined and the caller hashes the file itself; after the first such
 * answer this module does not try again.
 *
 * @example
 * ```ts
 * import { opensslSha512 } from "./openssl_sha512.ts";
 *
 * const hash = await opensslSha512("data/big.bin"); // 64 bytes, or undefined
 * ```
 *
 * @module
 */
import { resolve } from "node:path";

/** Bytes in a SHA-512. */
const HASH_BYTES = 64;

/** False once `openssl` could not be started: no second try. */
let opensslRuns = true;

/**
 * The 64-byte SHA-512 of the file at `path` as `program` (default
 * `openssl`) computes it with `dgst -sha512 -binary`, or undefined when it
 * cannot: the program is missing or not allowed to run, it failed (the
 * file unreadable for it), or its answer is not 64 bytes. The caller must
 * still check that the file did not change meanwhile (size and
 * modification time before and after), as for any hash.
 *
 * @example
 * ```ts
 * import { opensslSha512 } from "./openssl_sha512.ts";
 *
 * const hash = await opensslSha512("data/big.bin");
 * if (!hash) console.log("no openssl here: hash it in this process");
 * ```
 */
export async function opensslSha512(
  path: string,
  program = "openssl",
): Promise<Uint8Array | undefined> {
  if (!opensslRuns && program === "openssl") return undefined;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(program, {
      // An absolute path, so that a name starting with "-" is never an option.
      args: ["dgst", "-sha512", "-binary", resolve(path)],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
  } catch {
    if (program === "openssl") opensslRuns = false;
    return undefined;
  }
  if (!output.success || output.stdout.length !== HASH_BYTES) return undefined;
  return output.stdout;
}
