/**
 * Stopping cleanly on Ctrl-C (SIGINT) or SIGTERM.
 *
 * A long-running script asks for a {@linkcode ShutdownSignal}, checks
 * `signal.aborted` between steps, and passes the signal to its waits so that
 * Ctrl-C ends a 3-second pause at once. The script then closes its files and
 * sockets itself and exits 0: nothing half-written, no stack trace.
 *
 * @example
 * ```ts
 * import { listenForShutdown, sleep } from "./shutdown.ts";
 *
 * const shutdown = listenForShutdown();
 * while (!shutdown.signal.aborted) {
 *   await sleep(3000, shutdown.signal);
 * }
 * shutdown.dispose();
 * console.log(`Stopped by ${shutdown.reason}.`);
 * ```
 *
 * A script that installs its handler first thing, before any `await`, and
 * waits for its servers through {@linkcode unlessStopped}, ends at once on a
 * Ctrl-C while it starts: one line, exit code 130.
 *
 * @module
 */
import { Interrupted } from "./cli.ts";

/** The signals that ask a script to stop. */
const STOP_SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM"];

/** An AbortSignal that fires on SIGINT/SIGTERM (or on `stop()`). */
export interface ShutdownSignal {
  /** Aborted once a stop was asked for. */
  readonly signal: AbortSignal;
  /** What asked: `"SIGINT"`, `"SIGTERM"`, or the text given to `stop`. */
  readonly reason: string | undefined;
  /** Asks for a stop from inside the program (e.g. a `quit` command). */
  stop(reason: string): void;
  /** Removes the signal handlers, so a second Ctrl-C kills as usual. */
  dispose(): void;
}

/**
 * Starts listening for SIGINT and SIGTERM.
 *
 * @example
 * ```ts
 * const shutdown = listenForShutdown();
 * shutdown.signal.addEventListener("abort", () => console.log("bye"));
 * ```
 */
export function listenForShutdown(): ShutdownSignal {
  const controller = new AbortController();
  let reason: string | undefined;
  const stop = (why: string) => {
    if (controller.signal.aborted) return;
    reason = why;
    controller.abort(why);
  };
  const handlers = STOP_SIGNALS.map((name) => {
    const handler = () => stop(name);
    Deno.addSignalListener(name, handler);
    return [name, handler] as const;
  });
  return {
    signal: controller.signal,
    get reason() {
      return reason;
    },
    stop,
    dispose() {
      for (const [name, handler] of handlers) {
        Deno.removeSignalListener(name, handler);
      }
    },
  };
}

/**
 * Waits `ms` milliseconds, or less if `signal` aborts first. Never rejects.
 *
 * @example
 * ```ts
 * await sleep(1000); // one second
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Resolves once `signal` aborts (at once if it already has).
 *
 * @example
 * ```ts
 * const shutdown = listenForShutdown();
 * await untilStopped(shutdown.signal); // until quit, Ctrl-C or SIGTERM
 * ```
 */
export function untilStopped(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/**
 * Waits for `work`, unless a stop is asked for first: then throws
 * {@linkcode Interrupted} ("stopped by SIGINT " + `when`, exit code 130)
 * and leaves `work` behind. Meant for the waits of a script's start
 * (connecting to a server), which hold nothing that could be half-written.
 *
 * @example
 * ```ts
 * import { listenForShutdown, unlessStopped } from "./shutdown.ts";
 *
 * const shutdown = listenForShutdown();
 * const conn = await unlessStopped(
 *   Deno.connect({ hostname: "127.0.0.1", port: 9092 }),
 *   shutdown,
 *   "while connecting; nothing was sent",
 * );
 * conn.close();
 * ```
 */
export function unlessStopped<T>(
  work: Promise<T>,
  shutdown: ShutdownSignal,
  when: string,
): Promise<T> {
  const { signal } = shutdown;
  if (signal.aborted) {
    work.catch(() => {}); // Left behind: its failure no longer matters.
    return Promise.reject(new Interrupted(shutdown.reason ?? "", when));
  }
  return new Promise((resolve, reject) => {
    const stopped = () => {
      work.catch(() => {});
      reject(new Interrupted(shutdown.reason ?? "", when));
    };
    signal.addEventListener("abort", stopped, { once: true });
    work.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", stopped)
    );
  });
}

/**
 * Throws {@linkcode Interrupted} if a stop was asked for: between the steps
 * of a script's start that must not be cut short (writing files).
 *
 * @example
 * ```ts
 * import { listenForShutdown, throwIfStopped } from "./shutdown.ts";
 *
 * const shutdown = listenForShutdown();
 * throwIfStopped(shutdown, "before any file was read");
 * ```
 */
export function throwIfStopped(shutdown: ShutdownSignal, when: string): void {
  if (shutdown.signal.aborted) {
    throw new Interrupted(shutdown.reason ?? "", when);
  }
}
