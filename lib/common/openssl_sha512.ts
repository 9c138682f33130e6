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
 * undefined and the caller hashes the file itself; once the program was
 * found missing or not allowed, this module does not try it again.
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

/** What {@linkcode opensslSha512} may be told. */
export interface OpensslOptions {
  /** The program to run; default `openssl`. */
  program?: string;
  /** Stops the program (SIGTERM): the hash is no longer wanted. */
  signal?: AbortSignal;
}

/**
 * The 64-byte SHA-512 of the file at `path` as `openssl dgst -sha512
 * -binary` computes it, or undefined when it cannot: the program is missing
 * or not allowed to run, it failed (the file unreadable for it) or was
 * stopped, or its answer is not 64 bytes. The caller must still check that
 * the file did not change meanwhile (size and modification time before and
 * after, and that the name still leads to the same file), as for any hash.
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
  options: OpensslOptions = {},
): Promise<Uint8Array | undefined> {
  const { program = "openssl", signal } = options;
  if (signal?.aborted || (!opensslRuns && program === "openssl")) {
    return undefined;
  }
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(program, {
      // An absolute path, so that a name starting with "-" is never an option.
      args: ["dgst", "-sha512", "-binary", resolve(path)],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      signal,
    }).output();
  } catch (error) {
    // Missing or not allowed: for good. Anything else (no process slots
    // left, stopped): this time only.
    if (program === "openssl" && cannotRun(error)) opensslRuns = false;
    return undefined;
  }
  if (!output.success || output.stdout.length !== HASH_BYTES) return undefined;
  return output.stdout;
}

/** Whether `error` says the program is missing or may not be run. */
function cannotRun(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied;
}
