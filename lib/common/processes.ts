/**
 * Real OS processes: start a Deno script as a child with the permissions it
 * needs and nothing more, and relay what it prints, line by line; run an
 * installed program, with a one-line install hint when it is missing.
 *
 * The children are separate `deno` processes (not Workers), started with the
 * same executable as the parent ({@linkcode Deno.execPath}). Each child gets
 * `--no-prompt`, so a missing permission is an error and never a question
 * nobody is there to answer.
 *
 * @example
 * ```ts
 * import { runDenoScript } from "./processes.ts";
 *
 * const code = await runDenoScript({
 *   script: "scripts/multiple_processes.ts",
 *   args: ["--worker", "1"],
 *   allowRead: ["out/shared.db"],
 *   allowWrite: ["out/shared.db"],
 *   onLine: (line) => console.log(line),
 * });
 * ```
 *
 * @module
 */
import { UserError } from "./cli.ts";
import { readLines } from "./lines.ts";

/** What to start, with which permissions, and where its lines go. */
export interface DenoScriptOptions {
  /** Path (or `file:` URL) of the script to run. */
  script: string;
  /** Arguments after the script. */
  args?: string[];
  /** Paths for `--allow-read`; none if empty. */
  allowRead?: string[];
  /** Paths for `--allow-write`; none if empty. */
  allowWrite?: string[];
  /** Called with every line the child writes to stdout or stderr. */
  onLine: (line: string) => void;
  /**
   * When it aborts (Ctrl-C in the parent), the child gets SIGINT; one still
   * running `killAfterMs` later gets SIGKILL.
   */
  signal?: AbortSignal;
  /** How long a child may take to stop after SIGINT; default 2000 ms. */
  killAfterMs?: number;
}

/**
 * Starts the script as a child process, relays its output line by line, and
 * resolves with its exit code once it has ended and every line is relayed.
 * Without `--allow-run` it throws a {@linkcode UserError}. A child ended by
 * a signal resolves with 128 + the signal's number (130 for SIGINT).
 *
 * @example
 * ```ts
 * const code = await runDenoScript({ script: "scripts/about.ts", onLine: console.log });
 * ```
 */
export async function runDenoScript(
  options: DenoScriptOptions,
): Promise<number> {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      ...permissionFlags("--allow-read", options.allowRead),
      ...permissionFlags("--allow-write", options.allowWrite),
      options.script,
      ...(options.args ?? []),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  let child: Deno.ChildProcess;
  try {
    child = command.spawn();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    throw new UserError(
      `starting ${options.script} as a new process needs --allow-run`,
    );
  }
  const stopChild = () => stopProcess(child, options.killAfterMs ?? 2000);
  options.signal?.addEventListener("abort", stopChild, { once: true });
  const [status] = await Promise.all([
    child.status,
    relayLines(child.stdout, options.onLine),
    relayLines(child.stderr, options.onLine),
  ]);
  options.signal?.removeEventListener("abort", stopChild);
  return status.code;
}

/** SIGINT now, SIGKILL if the child is still running `killAfterMs` later. */
function stopProcess(child: Deno.ChildProcess, killAfterMs: number): void {
  const send = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // It has already ended.
    }
  };
  send("SIGINT");
  const timer = setTimeout(() => send("SIGKILL"), killAfterMs);
  child.status.finally(() => clearTimeout(timer));
}

/** Calls `onLine` for each line of `stream` (lib/common/lines.ts splits). */
async function relayLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  for await (const line of readLines(stream)) onLine(line);
}

/** `--allow-x=a,b`, or nothing when there are no paths. */
function permissionFlags(flag: string, paths: string[] = []): string[] {
  return paths.length > 0 ? [`${flag}=${paths.join(",")}`] : [];
}

/**
 * Runs an installed program to its end and returns its output. A program that
 * is not installed is a one-line {@linkcode UserError}
 * (`NAME not found: INSTALL_HINT`); any other failure to start is thrown as is.
 *
 * @example
 * ```ts
 * import { runInstalled } from "./processes.ts";
 *
 * const { stdout } = await runInstalled(
 *   "git",
 *   { args: ["--version"], stdout: "piped" },
 *   "install git (Debian: apt-get install git)",
 * );
 * ```
 */
export async function runInstalled(
  name: string,
  options: Deno.CommandOptions,
  installHint: string,
): Promise<Deno.CommandOutput> {
  try {
    return await new Deno.Command(name, options).output();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new UserError(`${name} not found: ${installHint}`);
  }
}
