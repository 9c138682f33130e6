/**
 * How every script ends: with a result, or with one clear line and an exit code.
 *
 * A user can cause some errors (a missing file, a bad flag, a broker that is
 * down). Those should read like a sentence, not like a stack trace. Scripts throw
 * {@linkcode UserError} or {@linkcode UsageError} for them and let
 * {@linkcode runMain} print the message. Anything else is a bug, and bugs still
 * show their stack trace so that they can be fixed.
 *
 * @example
 * ```ts
 * import { runMain, UserError } from "./cli.ts";
 *
 * if (import.meta.main) {
 *   await runMain("my_script", async () => {
 *     throw new UserError("input file data/missing.csv not found");
 *   });
 * }
 * // prints "my_script: error: input file data/missing.csv not found", exit code 1
 * ```
 *
 * @module
 */

/** An error the user can fix (missing file, unreachable server): exit code 1. */
export class UserError extends Error {
  /** An error whose `message` is the one line the user sees. */
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}

/** A wrong command line (unknown flag, bad value): exit code 2. */
export class UsageError extends UserError {
  /** An error whose `message` names the flag and what is wrong with it. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * A stop asked for (Ctrl-C, SIGTERM) before a script got going: one line and
 * the shell's exit code for the signal, 128 + its number (130 for SIGINT,
 * 143 for SIGTERM; 1 for any other reason).
 */
export class Interrupted extends UserError {
  /** The exit code {@linkcode runMain} ends with. */
  readonly exitCode: number;

  /** `reason` is the signal's name (or another reason); `when` ends the sentence. */
  constructor(reason: string, when: string) {
    super(`stopped by ${reason} ${when}`);
    this.name = "Interrupted";
    this.exitCode = reason === "SIGINT" ? 130 : reason === "SIGTERM" ? 143 : 1;
  }
}

/**
 * Thrown by `parseFlags` (lib/common/flags.ts) on `--help`: not an error but
 * the end of the run. {@linkcode runMain} prints `text` and exits 0.
 */
export class HelpRequested extends Error {
  /** The help text to print. */
  readonly text: string;

  /** Carries the help text of one script. */
  constructor(text: string) {
    super("--help");
    this.name = "HelpRequested";
    this.text = text;
  }
}

/** The exit code a finished `main` asks for; `undefined` means success. */
export type ExitCode = number | void;

/**
 * Runs `main`, turns user errors into one line on stderr, and exits.
 *
 * @example
 * ```ts
 * await runMain("listen", async () => 0);
 * ```
 */
export async function runMain(
  program: string,
  main: () => Promise<ExitCode> | ExitCode,
): Promise<never> {
  let code = 0;
  try {
    code = (await main()) ?? 0;
  } catch (error) {
    if (error instanceof HelpRequested) {
      console.log(error.text);
      Deno.exit(0);
    }
    if (!(error instanceof UserError) && !isUserCausedOsError(error)) {
      throw error;
    }
    // One line, also for usage errors: the hint goes on the same line.
    const hint = error instanceof UsageError ? " (see --help)" : "";
    console.error(`${program}: error: ${describeError(error)}${hint}`);
    code = error instanceof UsageError
      ? 2
      : error instanceof Interrupted
      ? error.exitCode
      : 1;
  }
  Deno.exit(code);
}

/**
 * A script's name from its `import.meta.url`: the file name without `.ts`,
 * so that a copy of a script names itself in `--help`, errors and log files.
 *
 * @example
 * ```ts
 * scriptName("file:///course/scripts/process_streaming_ada.ts"); // "process_streaming_ada"
 * ```
 */
export function scriptName(url: string): string {
  const file = new URL(url).pathname.split("/").at(-1) ?? "script";
  return decodeURIComponent(file).replace(/\.[cm]?[jt]s$/, "");
}

/**
 * Whether an error is the file system refusing what the user asked for (a
 * file without permission, a file where a folder should be, a full disk):
 * the user can fix those, so {@linkcode runMain} prints one line (Deno's
 * message names the path), not a stack trace.
 *
 * @example
 * ```ts
 * isUserCausedOsError(new Deno.errors.PermissionDenied("open 'a.bin'")); // true
 * ```
 */
export function isUserCausedOsError(error: unknown): boolean {
  return error instanceof Deno.errors.PermissionDenied ||
    error instanceof Deno.errors.NotADirectory ||
    error instanceof Deno.errors.IsADirectory ||
    (error instanceof Error && /\(os error (28|122)\)/.test(error.message));
}

/**
 * Describes an error from Deno or Node APIs in one line, without the stack.
 *
 * @example
 * ```ts
 * describeError(new Deno.errors.NotFound("No such file")); // "No such file"
 * ```
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.split("\n")[0];
  return String(error);
}

/**
 * Tells whether a file exists, so that a missing input can become a
 * {@linkcode UserError} before any work starts.
 *
 * @example
 * ```ts
 * if (!await fileExists("data/x.csv")) throw new UserError("data/x.csv not found");
 * ```
 */
export async function fileExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Creates (or empties) a file for writing, or appends to it. A path the task
 * may not write, or a folder that does not exist, becomes a
 * {@linkcode UserError} that says so.
 *
 * @example
 * ```ts
 * const file = openOutputFile("out/out9.txt");
 * file.writeSync(new TextEncoder().encode("Year,Month\n"));
 * file.close();
 * ```
 */
export function openOutputFile(
  path: string,
  options: { append?: boolean } = {},
): Deno.FsFile {
  const append = options.append ?? false;
  try {
    return Deno.openSync(path, {
      write: true,
      create: true,
      append,
      truncate: !append,
    });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new UserError(
        `this task may not write ${path}; use a path in out/`,
      );
    }
    if (error instanceof Deno.errors.NotFound) {
      throw new UserError(`cannot create ${path}: its folder does not exist`);
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new UserError(`cannot write ${path}: it is a folder, not a file`);
    }
    throw error;
  }
}
