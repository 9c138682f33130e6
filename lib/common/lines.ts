/**
 * Text split into lines: the one line splitter of the project, for a child
 * process's output, a TCP byte stream and a CSV file alike.
 *
 * A line ends at `\n`, `\r\n` or a lone `\r` (old Mac files), also when the
 * `\r` and the `\n` arrive in different chunks. A last line without a line
 * ending is a line too. The bytes are decoded as UTF-8 on the way, and a
 * byte order mark at the start is dropped.
 *
 * @example
 * ```ts
 * import { readLines } from "./lines.ts";
 *
 * const bytes = new Blob(["one\r\ntwo\nthree"]).stream();
 * for await (const line of readLines(bytes)) console.log(line); // one, two, three
 * ```
 *
 * @module
 */

/** A line ending: CRLF, LF, a lone CR, or none (the last line of a text). */
const LINE_END = /\r\n|\n|\r/g;

/**
 * Splits a stream of text into lines. With `keepEnds` each line keeps its own
 * ending (`"\r\n"`, `"\n"`, `"\r"`, or none for a last line without one), so
 * that the text can be put back together exactly.
 *
 * @example
 * ```ts
 * const lines = new Blob(["a\r\nb"]).stream()
 *   .pipeThrough(new TextDecoderStream())
 *   .pipeThrough(new LineSplitStream({ keepEnds: true })); // "a\r\n", "b"
 * ```
 */
export class LineSplitStream extends TransformStream<string, string> {
  /** Splits at every line ending; `keepEnds` keeps them on the lines. */
  constructor(options: { keepEnds?: boolean } = {}) {
    const keepEnds = options.keepEnds ?? false;
    let pending = "";
    super({
      transform(chunk, controller) {
        const text = pending + chunk;
        let start = 0;
        for (const match of text.matchAll(LINE_END)) {
          // A CR at the very end may be the first half of a CRLF: wait.
          if (match[0] === "\r" && match.index === text.length - 1) break;
          const end = match.index + match[0].length;
          controller.enqueue(text.slice(start, keepEnds ? end : match.index));
          start = end;
        }
        pending = text.slice(start);
      },
      flush(controller) {
        if (pending === "") return;
        const lone = pending.endsWith("\r") && !keepEnds;
        controller.enqueue(lone ? pending.slice(0, -1) : pending);
      },
    });
  }
}

/**
 * The lines of a byte stream (UTF-8), without their endings.
 *
 * @example
 * ```ts
 * const child = new Deno.Command("git", { args: ["--version"], stdout: "piped" }).spawn();
 * for await (const line of readLines(child.stdout)) console.log(line);
 * ```
 */
export function readLines(
  bytes: ReadableStream<Uint8Array>,
  options: { keepEnds?: boolean } = {},
): ReadableStream<string> {
  return bytes.pipeThrough(new TextDecoderStream())
    .pipeThrough(new LineSplitStream(options));
}
