/**
 * A real headless Chromium (Debian's /usr/bin/chromium, never a downloaded
 * one) driven over the DevTools protocol with a plain WebSocket: open a page,
 * evaluate JavaScript in it, wait for a condition, take a screenshot.
 *
 * A missing chromium fails the test (never a silent skip); .ci/run installs it.
 *
 * @module
 */

/** Debian's Chromium. */
const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
/** How long a page may take to meet a condition. */
const WAIT_MS = 30_000;

/** The flags that keep a headless Chromium from reaching out or hanging. */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--window-size=1100,420",
  "--remote-debugging-port=0",
];

/** A headless Chromium showing one page. */
export class HeadlessPage {
  readonly #process: Deno.ChildProcess;
  readonly #profile: string;
  readonly #socket: WebSocket;
  readonly #answers = new Map<
    number,
    (reply: Record<string, unknown>) => void
  >();
  #nextId = 1;

  private constructor(
    process: Deno.ChildProcess,
    profile: string,
    socket: WebSocket,
  ) {
    this.#process = process;
    this.#profile = profile;
    this.#socket = socket;
    socket.onmessage = (event) => {
      const reply = JSON.parse(event.data);
      this.#answers.get(reply.id)?.(reply);
      this.#answers.delete(reply.id);
    };
  }

  /** Starts Chromium on `url` with a fresh profile and connects to its page. */
  static async open(url: string): Promise<HeadlessPage> {
    const profile = await Deno.makeTempDir({ prefix: "chromium-profile-" });
    const process = new Deno.Command(CHROMIUM, {
      args: [...FLAGS, `--user-data-dir=${profile}`, url],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      const port = await devToolsPort(profile);
      const targets = await waitFor(async () => {
        const list = await (await fetch(`http://127.0.0.1:${port}/json/list`))
          .json() as { type: string; webSocketDebuggerUrl: string }[];
        return list.find((t) => t.type === "page");
      }, "the page's DevTools target");
      const socket = new WebSocket(targets.webSocketDebuggerUrl);
      await new Promise((resolve, reject) => {
        socket.onopen = resolve;
        socket.onerror = reject;
      });
      return new HeadlessPage(process, profile, socket);
    } catch (error) {
      process.kill("SIGKILL");
      await process.status;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** Sends one DevTools command and waits for its answer. */
  send(
    method: string,
    params: Record<string, unknown> = {},
  ): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#answers.set(id, (reply) => {
        if (reply.error) reject(new Error(JSON.stringify(reply.error)));
        else resolve(reply.result as Record<string, unknown>);
      });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** The value of a JavaScript expression in the page (JSON-able). */
  async evaluate<T>(expression: string): Promise<T> {
    const result = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
    });
    return (result.result as { value: T }).value;
  }

  /** Waits until `expression` is truthy in the page; returns its value. */
  waitUntil<T>(expression: string, what: string): Promise<T> {
    return waitFor(
      async () => (await this.evaluate<T>(expression)) || undefined,
      what,
    );
  }

  /** Writes a PNG screenshot of the page to `path`. */
  async screenshot(path: string): Promise<void> {
    const { data } = await this.send("Page.captureScreenshot", {
      format: "png",
    }) as { data: string };
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    await Deno.writeFile(path, bytes);
  }

  /** Closes Chromium and removes its profile. */
  async close(): Promise<void> {
    this.#socket.close();
    this.#process.kill("SIGTERM");
    await this.#process.status;
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}

/** Reads the port Chromium chose from `DevToolsActivePort` in its profile. */
function devToolsPort(profile: string): Promise<number> {
  return waitFor(async () => {
    const text = await Deno.readTextFile(`${profile}/DevToolsActivePort`)
      .catch(() => "");
    const port = Number(text.split("\n")[0]);
    return port > 0 ? port : undefined;
  }, "chromium's DevTools port");
}

/** Polls `probe` until it returns a value; fails after {@linkcode WAIT_MS}. */
async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  what: string,
): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}
