/**
 * Reading the status page's event stream (`/events`, server-sent events of
 * the whole table) the way the page itself does, for the tests of
 * `deno task status`.
 *
 * @module
 */

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
