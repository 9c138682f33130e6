/**
 * Typed commands for long-running tools: `check` (or `c`) and `quit` (or `q`).
 *
 * The 2021 tools read the console one character at a time, so `check` fired
 * twice and any word starting with `q` quit. Here a command is a whole line,
 * matched exactly (case and surrounding spaces ignored). When stdin ends (the
 * tool runs in the background, or from a script), the tool keeps running:
 * only `quit`, Ctrl-C or SIGTERM stop it.
 *
 * @example
 * ```ts
 * import { listenForCommands } from "./console_commands.ts";
 *
 * const commands = listenForCommands({
 *   check: () => console.log("3 files done"),
 *   quit: () => console.log("stopping"),
 * }, (line) => console.log(`unknown command: ${line}`));
 * // later: commands.close();
 * ```
 *
 * @module
 */
import process from "node:process";
import { createInterface, type Interface } from "node:readline";

/** What to do for each command. */
export interface CommandHandlers {
  /** Runs on `check` (or `c`). */
  check: () => void;
  /** Runs on `quit` (or `q`). */
  quit: () => void;
}

/** Stops listening. */
export interface CommandListener {
  /** Stops reading the console. */
  close(): void;
}

/** The words each command answers to. */
const WORDS: Record<string, keyof CommandHandlers> = {
  check: "check",
  c: "check",
  quit: "quit",
  q: "quit",
};

/**
 * Calls the matching handler for each line typed on stdin; other non-empty
 * lines go to `unknown`.
 *
 * @example
 * ```ts
 * const listener = listenForCommands({ check() {}, quit() {} }, () => {});
 * listener.close();
 * ```
 */
export function listenForCommands(
  handlers: CommandHandlers,
  unknown: (line: string) => void,
): CommandListener {
  const lines: Interface = createInterface({ input: process.stdin });
  lines.on("line", (line: string) => {
    const word = line.trim().toLowerCase();
    if (word === "") return;
    const command = WORDS[word];
    if (command) handlers[command]();
    else unknown(line.trim());
  });
  return {
    close() {
      lines.close();
      process.stdin.destroy();
    },
  };
}

/**
 * `check` and `quit` as the Kafka tools take them: any other line gets one
 * warning naming both.
 *
 * @example
 * ```ts
 * const listener = listenForCheckAndQuit({ check() {}, quit() {} }, console.warn);
 * // typing "stop" warns: unknown command "stop": type check (c) or quit (q)
 * listener.close();
 * ```
 */
export function listenForCheckAndQuit(
  handlers: CommandHandlers,
  warn: (line: string) => void,
): CommandListener {
  return listenForCommands(
    handlers,
    (line) => warn(`unknown command "${line}": type check (c) or quit (q)`),
  );
}

/**
 * Prints a "." every `seconds` to show that a long-running tool is alive
 * (the originals' `--update_seconds`); 0 or less prints nothing. Returns a
 * function that stops it.
 *
 * @example
 * ```ts
 * const stopHeartbeat = startHeartbeat(30, () => console.log("."));
 * stopHeartbeat();
 * ```
 */
export function startHeartbeat(
  seconds: number,
  printDot: () => void,
): () => void {
  if (seconds <= 0) return () => {};
  const timer = setInterval(printDot, seconds * 1000);
  return () => clearInterval(timer);
}
