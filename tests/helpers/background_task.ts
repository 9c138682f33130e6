/**
 * A task running in the background, driven through stdin like a user at a
 * terminal: type lines into it, wait for its output, quit it, or kill it.
 *
 * @module
 */
import { spawnTask } from "./run_task.ts";
import { type OutputWatcher, watchOutputs } from "./streaming.ts";

/** What a finished background task printed and returned. */
export interface FinishedTask {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A running `deno task`, started without `deno task` in between so that a
 * SIGKILL reaches the script itself.
 *
 * @example
 * ```ts
 * const task = new BackgroundTask("reconstruct_data_files", ["out/rebuilt"]);
 * await task.stdout.waitFor("Reading topic");
 * const { code } = await task.quit();
 * ```
 */
export class BackgroundTask {
  readonly child: Deno.ChildProcess;
  readonly stdout: OutputWatcher;
  readonly stderr: OutputWatcher;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  exited = false;

  constructor(task: string, args: string[], env?: Record<string, string>) {
    this.child = spawnTask(task, args, { stdin: true, direct: true, env });
    ({ stdout: this.stdout, stderr: this.stderr } = watchOutputs(
      this.child,
      task,
    ));
    this.#stdin = this.child.stdin.getWriter();
    this.child.status.then(() => this.exited = true);
  }

  /** Types a line, as a user would. */
  async type(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** Types `quit` and waits for the exit. */
  async quit(): Promise<FinishedTask> {
    await this.type("quit");
    await this.#stdin.close();
    const { code } = await this.child.status;
    return {
      code,
      stdout: await this.stdout.all(),
      stderr: await this.stderr.all(),
    };
  }

  /** Kills it with SIGKILL, no goodbye. */
  async kill(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.#stdin.close().catch(() => {});
    await this.child.status;
    await this.stdout.all();
    await this.stderr.all();
  }
}
