/**
 * Reading the status page's event stream (`/events`, server-sent events of
 * the whole table) the way the page itself does, for the tests of
 * `deno task status`.
 *
 * @module
 */
import { BackgroundTask } from "./background_task.ts";
import { freePort } from "./streaming.ts";

/** One table the status page pushes: a row per program. */
export interface StatusView {
  /** The programs, each with its `id`, `totals` and the rest of its row. */
  programs: Record<string, unknown>[];
}

/**
 * Reads the event stream of the status page on `port` until `found` says
 * yes to a table, and returns that table; gives up (throws) after a minute.
 *
 * @example
 * ```ts
 * const view = await waitForStatusView(8080, (v) => v.programs.length > 0);
 * ```
 */
export async function waitForStatusView(
  port: number,
  found: (view: StatusView) => boolean,
): Promise<StatusView> {
  const response = await fetch(`http://127.0.0.1:${port}/events`, {
    signal: AbortSignal.timeout(60_000),
  });
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the event stream ended");
      text += value;
      let end;
      while ((end = text.indexOf("\n\n")) >= 0) {
        const view = JSON.parse(text.slice(0, end).replace(/^data: /, ""));
        text = text.slice(end + 2);
        if (found(view)) return view;
      }
    }
  } finally {
    await reader.cancel();
  }
}

/**
 * Starts `deno task status` for `config` and the heartbeat topic `topic` on
 * a free port of 127.0.0.1; returns the running task and its port.
 *
 * @example
 * ```ts
 * const { status, port } = await startStatus("out/test.config", "beats");
 * await status.stderr.waitFor("Showing heartbeats");
 * ```
 */
export async function startStatus(
  config: string,
  topic: string,
): Promise<{ status: BackgroundTask; port: number }> {
  const port = await freePort("tcp");
  const status = new BackgroundTask("status", [
    ...["--config", config, "--heartbeat_topic_name", topic],
    ...["--port", String(port)],
  ]);
  return { status, port };
}
