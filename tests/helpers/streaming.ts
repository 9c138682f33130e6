/**
 * Test helpers for the streaming scripts: free ports, a listener that collects
 * what arrives, and a watcher for a running task's output.
 *
 * @module
 */
import dgram from "node:dgram";
import type {
  MessageReceiver,
  Protocol,
  ReceivedMessage,
} from "../../lib/course/sockets.ts";

/** How long a helper waits before giving up, so a broken test fails, not hangs. */
const GIVE_UP_MS = 30_000;

/**
 * A port nobody listens on right now: bind port 0, read the port the system
 * chose, let it go.
 *
 * @example
 * ```ts
 * const port = await freePort("udp");
 * ```
 */
export async function freePort(protocol: Protocol): Promise<number> {
  if (protocol === "tcp") {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr as Deno.NetAddr;
    listener.close();
    return port;
  }
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/**
 * Collects messages from `receiver` until there are `count` of them, or until
 * `disconnects` TCP senders hung up, or until the give-up time. Closes the
 * receiver afterwards unless `keepOpen` is set.
 *
 * @example
 * ```ts
 * const messages = await collectMessages(receiver, { count: 5 });
 * ```
 */
export async function collectMessages(
  receiver: MessageReceiver,
  until: { count?: number; disconnects?: number; keepOpen?: boolean },
): Promise<ReceivedMessage[]> {
  const messages: ReceivedMessage[] = [];
  let disconnects = 0;
  const timer = setTimeout(() => receiver.close(), GIVE_UP_MS);
  const events = receiver.events[Symbol.asyncIterator]();
  try {
    while (true) {
      const next = await events.next();
      if (next.done) break;
      if (next.value.kind === "message") messages.push(next.value);
      if (next.value.kind === "disconnected") disconnects++;
      if (until.count !== undefined && messages.length >= until.count) break;
      if (until.disconnects !== undefined && disconnects >= until.disconnects) {
        break;
      }
    }
  } finally {
    clearTimeout(timer);
    if (!until.keepOpen) receiver.close();
  }
  return messages;
}

/**
 * Reads a running task's stdout or stderr in the background, so a test can
 * wait for a line (e.g. "Listening ...") and still get all of it at the end.
 *
 * @example
 * ```ts
 * const stdout = new OutputWatcher(child.stdout);
 * await stdout.waitFor("Listening for");
 * const all = await stdout.all();
 * ```
 */
export class OutputWatcher {
  #text = "";
  #waiters: (() => void)[] = [];
  readonly #done: Promise<void>;
  readonly #context: () => string;

  /**
   * `context` adds to a give-up message what else is known (the other
   * stream, whether the process has exited), so a failure in CI says why.
   */
  constructor(stream: ReadableStream<Uint8Array>, context = () => "") {
    this.#context = context;
    this.#done = (async () => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.#text += chunk;
        for (const wake of this.#waiters.splice(0)) wake();
      }
      for (const wake of this.#waiters.splice(0)) wake();
    })();
  }

  /** Everything read so far. */
  get text(): string {
    return this.#text;
  }

  /** Waits until the text read so far contains `pattern`; throws on give-up. */
  async waitFor(pattern: string | RegExp): Promise<void> {
    const found = () =>
      typeof pattern === "string"
        ? this.#text.includes(pattern)
        : pattern.test(this.#text);
    const deadline = Date.now() + GIVE_UP_MS;
    let ended = false;
    this.#done.then(() => ended = true);
    while (!found()) {
      if (ended || Date.now() > deadline) {
        const why = ended ? "the stream ended" : `${GIVE_UP_MS} ms passed`;
        throw new Error(
          `never saw ${pattern} (${why}) in:\n${this.#text}${this.#context()}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** All of the text, once the stream has ended. */
  async all(): Promise<string> {
    await this.#done;
    return this.#text;
  }
}

/**
 * Watches a child's stdout and stderr; a give-up on either says whether the
 * child is still running (or its exit code) and shows the other stream.
 *
 * @example
 * ```ts
 * declare const child: Deno.ChildProcess;
 * const { stdout, stderr } = watchOutputs(child, "listen");
 * await stdout.waitFor("Listening for");
 * ```
 */
export function watchOutputs(
  child: Deno.ChildProcess,
  name: string,
): { stdout: OutputWatcher; stderr: OutputWatcher } {
  let exitCode: number | undefined;
  child.status.then(({ code }) => exitCode = code, () => {});
  const about = (stream: string, other: () => OutputWatcher) => () =>
    `\n--- ${name} ${
      exitCode === undefined ? "still running" : `exited ${exitCode}`
    }; its ${stream}:\n${other().text}`;
  const watchers: { stdout: OutputWatcher; stderr: OutputWatcher } = {
    stdout: new OutputWatcher(
      child.stdout,
      about("stderr", () => watchers.stderr),
    ),
    stderr: new OutputWatcher(
      child.stderr,
      about("stdout", () => watchers.stdout),
    ),
  };
  return watchers;
}
