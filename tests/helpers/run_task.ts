/**
 * Runs the project's `deno task`s from tests, exactly as a user would, with the
 * permissions deno.json grants them.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { taskArgs, taskEnv } from "../../lib/common/deno_tasks.ts";

/** The project root (where deno.json is). */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

/** What a finished task printed and returned. */
export interface TaskResult {
  code: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

/**
 * Runs `deno task <name> ...args` in the project root and waits for it.
 *
 * @example
 * ```ts
 * const { code, stderr } = await runTask("multiple_processes", ["--task_duration", "0"]);
 * ```
 */
export async function runTask(
  name: string,
  args: string[] = [],
  options: { stdin?: string; env?: Record<string, string> } = {},
): Promise<TaskResult> {
  const child = spawnTask(name, args, {
    stdin: options.stdin !== undefined,
    env: options.env,
  });
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Runs a task's own `deno run ...` line and waits for it; as root, without
 * the power to ignore file permissions (Linux capabilities dropped with
 * setpriv), so that permission checks apply as they do for a normal user.
 * As a normal user it runs the task as it is.
 *
 * @example
 * ```ts
 * const { code, stderr } = await runWithoutOverride("metadata_uploader", ["out/locked"]);
 * ```
 */
export async function runWithoutOverride(
  task: string,
  args: string[],
): Promise<TaskResult> {
  const deno = [Deno.execPath(), ...taskArgs(task, `${ROOT}deno.json`)];
  const command = Deno.uid() === 0
    ? [
      "setpriv",
      "--bounding-set",
      "-dac_override,-dac_read_search,-fowner",
      ...deno,
    ]
    : deno;
  const output = await new Deno.Command(command[0], {
    args: [...command.slice(1), ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...taskEnv(task, `${ROOT}deno.json`) },
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Starts `deno task <name> ...args` without waiting, stdout and stderr piped.
 * The caller must read both streams (or call `output()`) and end the process.
 *
 * @example
 * ```ts
 * const child = spawnTask("listen", ["--count", "3"]);
 * const { code } = await child.output();
 * ```
 */
export function spawnTask(
  name: string,
  args: string[] = [],
  options: { stdin?: boolean; env?: Record<string, string>; direct?: boolean } =
    {},
): Deno.ChildProcess {
  // `direct` runs the task's own `deno run ...` line without `deno task` in
  // between, so that a SIGKILL reaches the script itself.
  const command = options.direct
    ? [...taskArgs(name, `${ROOT}deno.json`), ...args]
    : ["task", "--quiet", name, ...args];
  return new Deno.Command(Deno.execPath(), {
    args: command,
    cwd: ROOT,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: {
      NO_COLOR: "1",
      ...(options.direct ? taskEnv(name, `${ROOT}deno.json`) : {}),
      ...options.env,
    },
  }).spawn();
}

/**
 * A fresh folder inside out/ (the tasks may only write there), removed by the
 * caller with `Deno.remove(dir, { recursive: true })`.
 *
 * @example
 * ```ts
 * const dir = await makeOutTempDir("streaming");
 * ```
 */
export async function makeOutTempDir(prefix: string): Promise<string> {
  await Deno.mkdir(`${ROOT}out/.tmp`, { recursive: true });
  const path = await Deno.makeTempDir({
    dir: `${ROOT}out/.tmp`,
    prefix: `${prefix}-`,
  });
  // Tasks get paths relative to the project root, as a user would type them.
  return path.slice(ROOT.length);
}
