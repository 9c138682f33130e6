/**
 * A local Kafka node's java process: launched detached, known by its pid
 * file, recognised by its command line (a stale pid never names another
 * process), and its last log lines when it fails.
 *
 * @example
 * ```ts
 * import { isAlive, readPidFile } from "./broker_process.ts";
 *
 * const pid = await readPidFile(".kafka/9092/broker.pid");
 * console.log(pid !== undefined && isAlive(pid));
 * ```
 *
 * @module
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import process from "node:process";
import { UserError } from "../common/cli.ts";
import { sleep } from "../common/shutdown.ts";

/**
 * Starts a node's java detached from this process, output appended to
 * `broker.out` in its folder; returns its pid.
 *
 * @example
 * ```ts
 * const pid = await launchBroker(".kafka/9092", "1g", "/opt/kafka/libs/*");
 * ```
 */
export async function launchBroker(
  nodeDir: string,
  heap: string,
  classpath: string,
): Promise<number> {
  const dir = await Deno.realPath(nodeDir);
  const out = openSync(`${dir}/broker.out`, "a");
  const child = spawn("java", [
    `-Xms256m`,
    `-Xmx${heap}`,
    `-Dlog4j2.configurationFile=${dir}/log4j2.properties`,
    "-cp",
    classpath,
    "kafka.Kafka",
    `${dir}/server.properties`,
  ], { detached: true, stdio: ["ignore", out, out] });
  child.unref();
  closeSync(out);
  if (child.pid === undefined) throw new UserError("could not start java");
  return child.pid;
}

/**
 * The pid a pid file holds; undefined when it is missing or not a pid.
 *
 * @example
 * ```ts
 * const pid = await readPidFile(".kafka/9092/broker.pid");
 * ```
 */
export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const pid = Number((await Deno.readTextFile(path)).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is a Kafka broker started with the server.properties in
 * `nodeDir`.
 *
 * @example
 * ```ts
 * console.log(await isBrokerOf(".kafka/9092", 12345));
 * ```
 */
export async function isBrokerOf(
  nodeDir: string,
  pid: number,
): Promise<boolean> {
  const command = await commandLine(pid);
  const relative = `${nodeDir}/server.properties`;
  const absolute = await Deno.realPath(relative).catch(() => relative);
  // The config is java's last argument (a relative one before clusters).
  return command.includes(" kafka.Kafka ") &&
    (command.endsWith(` ${absolute}`) || command.endsWith(` ${relative}`));
}

/**
 * Whether a process with this pid exists.
 *
 * @example
 * ```ts
 * console.log(isAlive(Deno.pid)); // true
 * ```
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until every one of `pids` has exited, at most `timeoutMs`; then
 * SIGKILLs those still alive.
 *
 * @example
 * ```ts
 * await awaitExit([12345], 30_000);
 * ```
 */
export async function awaitExit(
  pids: number[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(250);
  killAll(pids);
}

/**
 * SIGKILLs each of `pids` that is still alive.
 *
 * @example
 * ```ts
 * killAll([12345, 12346]);
 * ```
 */
export function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
  }
}

/**
 * The last lines of a node's log and console output (`broker.log`,
 * `broker.out` in `dir`).
 *
 * @example
 * ```ts
 * console.log(await lastLogLines(".kafka/9092"));
 * ```
 */
export async function lastLogLines(dir: string, count = 15): Promise<string> {
  const texts: string[] = [];
  for (const file of [`${dir}/broker.log`, `${dir}/broker.out`]) {
    try {
      texts.push(...(await Deno.readTextFile(file)).trimEnd().split("\n"));
    } catch {
      // The broker may have died before writing anything.
    }
  }
  return texts.slice(-count).join("\n") || "(no log lines)";
}

/**
 * A process's command line, from `ps` (Deno refuses `/proc/<pid>` to a
 * script that may run programs); empty when it cannot be read.
 */
async function commandLine(pid: number): Promise<string> {
  try {
    const result = await new Deno.Command("ps", {
      args: ["-ww", "-o", "args=", "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(result.stdout).trim();
  } catch {
    return "";
  }
}
