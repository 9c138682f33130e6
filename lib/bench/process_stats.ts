/**
 * Running a child process and measuring its peak memory and CPU time.
 *
 * GNU time (`/usr/bin/time`, Debian package `time`) reports the largest
 * resident set size a process reached ("maximum resident set size"), exactly,
 * when it ends, and the CPU time of all its threads. Deno itself may not read another process's `/proc` entries
 * without `--allow-all`, so the benchmark wraps each measured process in it.
 *
 * @example
 * ```ts
 * import { spawnMeasured } from "./process_stats.ts";
 *
 * const run = await spawnMeasured("sleep", ["1"]);
 * const { peakRssBytes } = await run.finished;
 * ```
 *
 * @module
 */
import { UserError } from "../common/cli.ts";
import { taskArgs, taskEnv } from "../common/deno_tasks.ts";

/** Where GNU time lives on Debian and most Linux systems. */
const GNU_TIME = "/usr/bin/time";

/** What GNU time reports about a finished process, with its output. */
export interface ProcessReport {
  /** The largest resident set size the process reached, in bytes. */
  peakRssBytes: number;
  /** CPU time it used, user plus system, in seconds (all its threads). */
  cpuSeconds: number;
  /** Of those, in the kernel (system time): page faults, copies, syscalls. */
  systemSeconds: number;
  /** Its wall-clock time from start to end, in seconds. */
  wallSeconds: number;
  /** How it ended. */
  status: Deno.CommandStatus;
  /** Its standard output when `captureStdout` was set, else "". */
  stdout: string;
  /** Its standard error. */
  stderr: string;
}

/** A measured child process. */
export interface MeasuredProcess {
  /** The GNU time process (the measured program is its child). */
  child: Deno.ChildProcess;
  /** Resolves when the process ends, with what GNU time measured. */
  finished: Promise<ProcessReport>;
}

/** How {@linkcode spawnMeasured} runs the program. */
export interface MeasureOptions {
  /** Where GNU time's report file goes for the moment; default `out`. */
  reportDir?: string;
  /** Keep the program's standard output (else it is discarded). */
  captureStdout?: boolean;
  /** Environment variables added to the program's (a task's `NAME=value` words). */
  env?: Record<string, string>;
}

/**
 * Starts `command` under GNU time with stdin piped, stdout discarded (or
 * captured with `captureStdout`) and stderr captured. GNU time's report goes
 * to a temporary file in `reportDir`. Throws {@linkcode UserError} if GNU time
 * is missing.
 *
 * @example
 * ```ts
 * const run = await spawnMeasured(Deno.execPath(), ["--version"]);
 * ```
 */
export async function spawnMeasured(
  command: string,
  args: string[],
  options: MeasureOptions = {},
): Promise<MeasuredProcess> {
  if (!await Deno.stat(GNU_TIME).then(() => true, () => false)) {
    throw new UserError(
      `${GNU_TIME} not found: install GNU time (Debian: apt-get install time)`,
    );
  }
  const report = await Deno.makeTempFile({
    dir: options.reportDir ?? "out",
    prefix: ".peak-rss-",
  });
  const child = new Deno.Command(GNU_TIME, {
    // Peak RSS in KiB, user and system CPU seconds, wall-clock seconds.
    args: ["-f", "%M %U %S %e", "-o", report, command, ...args],
    stdin: "piped",
    stdout: options.captureStdout ? "piped" : "null",
    stderr: "piped",
    env: options.env,
  }).spawn();
  const finished = (async () => {
    const output = await child.output();
    // GNU time puts "Command exited with non-zero status N" before its line.
    const [kib, user, system, wall] = (await Deno.readTextFile(report))
      .trim().split("\n").at(-1)!.split(" ").map(Number);
    await Deno.remove(report);
    const decoder = new TextDecoder();
    return {
      peakRssBytes: kib * 1024,
      cpuSeconds: user + system,
      systemSeconds: system,
      wallSeconds: wall,
      status: {
        success: output.success,
        code: output.code,
        signal: output.signal,
      },
      stdout: options.captureStdout ? decoder.decode(output.stdout) : "",
      stderr: decoder.decode(output.stderr),
    };
  })();
  return { child, finished };
}

/**
 * CPU seconds (user + system) a process has used so far. Read with `cat`
 * from /proc, since Deno may not read another process's /proc entries itself
 * without `--allow-all`; needs `--allow-run`.
 *
 * @example
 * ```ts
 * const before = await cpuSeconds(Deno.pid);
 * ```
 */
export async function cpuSeconds(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/stat`],
  }).output();
  // After the command name (in parentheses): utime is the 12th field, stime the 13th.
  const fields = new TextDecoder().decode(stdout).split(")").at(-1)!.trim()
    .split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100
}

/**
 * The pid of the (first) child of `parent`, e.g. the program GNU time runs.
 *
 * @example
 * ```ts
 * const measured = await spawnMeasured("sleep", ["1"]);
 * const pid = await childPid(measured.child.pid); // sleep's pid, not GNU time's
 * ```
 */
export async function childPid(parent: number): Promise<number> {
  const { stdout } = await new Deno.Command("ps", {
    args: ["-o", "pid=", "--ppid", String(parent)],
  }).output();
  return Number(new TextDecoder().decode(stdout).trim().split("\n")[0]);
}

/**
 * Starts a `deno task`'s script directly (no `deno task` in between, so the
 * measured process is the script itself), with the task's permissions.
 *
 * @example
 * ```ts
 * const run = await spawnMeasuredTask("upload_data_file", ["a.bin"]);
 * ```
 */
export function spawnMeasuredTask(
  task: string,
  args: string[],
): Promise<MeasuredProcess> {
  return spawnMeasured(Deno.execPath(), [...taskArgs(task), ...args], {
    env: taskEnv(task),
  });
}

/**
 * Waits for a measured run to end, typing `quit` on its stdin first when
 * `quit` is set (else stdin is just closed). Throws a `UserError` with the
 * last line of its stderr if it failed; returns what GNU time measured.
 *
 * @example
 * ```ts
 * const run = await spawnMeasured("sleep", ["1"]);
 * const { cpuSeconds, wallSeconds } = await finishMeasuredReport(run);
 * ```
 */
export async function finishMeasuredReport(
  run: MeasuredProcess,
  options: { quit?: boolean } = {},
): Promise<ProcessReport> {
  const stdin = run.child.stdin.getWriter();
  if (options.quit) await stdin.write(new TextEncoder().encode("quit\n"));
  await stdin.close();
  const done = await run.finished;
  if (!done.status.success) {
    // The tool said why in its own one line (a missing node, a bad config):
    // the bench ends with that line, not a stack trace of its own.
    const said = done.stderr.trim().split("\n").at(-1) ||
      `exited with code ${done.status.code}`;
    throw new UserError(`a measured run failed: ${said}`);
  }
  return done;
}

/**
 * Waits for a measured run to end, as {@linkcode finishMeasuredReport} does;
 * returns its peak resident memory in MB.
 *
 * @example
 * ```ts
 * const run = await spawnMeasured("cat", []);
 * const peakMb = await finishMeasured(run, { quit: true });
 * ```
 */
export async function finishMeasured(
  run: MeasuredProcess,
  options: { quit?: boolean } = {},
): Promise<number> {
  const done = await finishMeasuredReport(run, options);
  return Math.round(done.peakRssBytes / 1e6);
}
