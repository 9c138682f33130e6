/**
 * Sending and receiving text messages over UDP or TCP with one small API.
 *
 * The course streams rows to `127.0.0.1:9999`. Which transport carries them is
 * part of the lesson, so both sides take a {@linkcode Protocol}:
 *
 * - **UDP** sends each message as one datagram. There is no connection: a
 *   message to a port where nobody listens simply disappears, and nothing
 *   promises that datagrams arrive, or arrive in order.
 * - **TCP** first connects (so a listener that is not there is an error at
 *   once), then delivers every byte, in order, or reports that it could not.
 *   TCP carries a stream of bytes, not messages, so each message is written as
 *   one line: the text, then `\n`. The receiver splits the stream at newlines.
 *
 * UDP uses `node:dgram`, because `Deno.listenDatagram` still needs the
 * `--unstable-net` flag in Deno 2.9; TCP uses `Deno.connect` and `Deno.listen`.
 *
 * @example
 * ```ts
 * import { openReceiver, openSender } from "./sockets.ts";
 *
 * const receiver = await openReceiver({ protocol: "tcp", hostname: "127.0.0.1", port: 9999 });
 * const sender = await openSender({ protocol: "tcp", hostname: "127.0.0.1", port: 9999 });
 * await sender.send("[2023, 1, 3, 7:55, 12]");
 * sender.close();
 * for await (const event of receiver.events) {
 *   if (event.kind === "message") console.log(event.sender, event.text);
 * }
 * ```
 *
 * @module
 */
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { describeError, UserError } from "../common/cli.ts";

/** The two transports the course compares. */
export type Protocol = "udp" | "tcp";

/** The transports, for a `--protocol` flag's choices. */
export const PROTOCOLS: readonly Protocol[] = ["udp", "tcp"];

/** The flag definitions {@linkcode socketFlags} returns. */
export interface SocketFlagDefs {
  /** `--host`: where the listener is. */
  host: { type: "string"; default: string; description: string };
  /** `--port`: the listener's port. */
  port: {
    type: "number";
    default: number;
    integer: true;
    min: number;
    description: string;
  };
  /** `--protocol`: `udp` or `tcp`. */
  protocol: {
    type: "string";
    default: string;
    choices: readonly Protocol[];
    description: string;
  };
}

/**
 * The `--host`, `--port` and `--protocol` flags every streaming script shares,
 * for `parseFlags`, with the script's constants as defaults.
 *
 * @example
 * ```ts
 * const { flags } = parseFlags(Deno.args, {
 *   program: "listen",
 *   summary: "Print what arrives.",
 *   flags: { ...socketFlags({ protocol: "udp", hostname: "127.0.0.1", port: 9999 }) },
 * });
 * flags.port; // number
 * ```
 */
export function socketFlags(defaults: SocketAddress): SocketFlagDefs {
  return {
    host: {
      type: "string",
      default: defaults.hostname,
      description: "the listener's host name or address",
    },
    port: {
      type: "number",
      default: defaults.port,
      integer: true,
      min: 1,
      description: "the listener's port",
    },
    protocol: {
      type: "string",
      default: defaults.protocol,
      choices: PROTOCOLS,
      description: "UDP: connectionless; TCP: connected, in order",
    },
  };
}

/** Where to send to, or where to listen. */
export interface SocketAddress {
  /** Which transport to use. */
  protocol: Protocol;
  /** A host name (`localhost`) or an IPv4 address (`127.0.0.1`). */
  hostname: string;
  /** The port number; 0 lets the system pick a free one for a receiver. */
  port: number;
}

/** Sends text messages to one address. */
export interface MessageSender {
  /** `host:port` of the receiver, for log lines. */
  readonly address: string;
  /** Sends one message; resolves once the operating system has taken it. */
  send(message: string): Promise<void>;
  /** Closes the socket. Calling it twice is harmless. */
  close(): void;
}

/**
 * Opens a sender. For TCP this connects right away, so a listener that is not
 * there throws {@linkcode UserError} before any row is read.
 *
 * @example
 * ```ts
 * const sender = await openSender({ protocol: "udp", hostname: "127.0.0.1", port: 9999 });
 * await sender.send("hello");
 * sender.close();
 * ```
 */
export async function openSender(to: SocketAddress): Promise<MessageSender> {
  return to.protocol === "udp"
    ? await openUdpSender(to)
    : await openTcpSender(to);
}

/** A UDP socket bound to a local port of its own, sending datagrams to `to`. */
async function openUdpSender(to: SocketAddress): Promise<MessageSender> {
  const socket = dgram.createSocket("udp4");
  // Binding explicitly keeps the socket on the loopback interface for local
  // receivers, which is all that --allow-net=127.0.0.1 permits.
  await bindUdp(socket, 0, isLoopback(to.hostname) ? "127.0.0.1" : "0.0.0.0");
  let closed = false;
  return {
    address: `${to.hostname}:${to.port}`,
    send(message: string): Promise<void> {
      return new Promise((resolve, reject) => {
        socket.send(message, to.port, to.hostname, (error) => {
          if (error) {
            reject(
              new UserError(
                `could not send to ${to.hostname}:${to.port} over UDP: ${
                  describeError(error)
                }`,
              ),
            );
          } else resolve();
        });
      });
    },
    close(): void {
      if (!closed) socket.close();
      closed = true;
    },
  };
}

/** A TCP connection to `to` that writes each message as one line. */
async function openTcpSender(to: SocketAddress): Promise<MessageSender> {
  const address = `${to.hostname}:${to.port}`;
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: to.hostname, port: to.port });
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) {
      throw new UserError(
        `no TCP listener at ${address}; start one first with: deno task listen --protocol tcp`,
      );
    }
    throw new UserError(
      `could not connect to ${address} over TCP: ${describeError(error)}`,
    );
  }
  const encoder = new TextEncoder();
  let closed = false;
  return {
    address,
    async send(message: string): Promise<void> {
      const bytes = encoder.encode(toOneLine(message) + "\n");
      try {
        let written = 0;
        while (written < bytes.length) {
          written += await conn.write(bytes.subarray(written));
        }
      } catch (error) {
        throw new UserError(
          `the TCP listener at ${address} went away: ${describeError(error)}`,
        );
      }
    },
    close(): void {
      if (!closed) conn.close();
      closed = true;
    },
  };
}

/**
 * Keeps a message on one line for TCP's newline framing: a line break inside
 * it (a quoted CSV field may hold one) is sent as the two characters `\n`.
 */
function toOneLine(message: string): string {
  return message.replace(/\r\n|\r|\n/g, "\\n");
}

/** True for names and addresses of this machine's loopback interface. */
function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname.startsWith("127.");
}

/** Binds a UDP socket, turning "port in use" into a {@linkcode UserError}. */
function bindUdp(
  socket: dgram.Socket,
  port: number,
  hostname: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      socket.close();
      reject(bindError(error, "udp", hostname, port));
    };
    socket.once("error", onError);
    try {
      socket.bind(port, hostname, () => {
        socket.off("error", onError);
        resolve();
      });
    } catch (error) {
      // Deno checks --allow-net before binding, synchronously.
      reject(bindError(error, "udp", hostname, port));
    }
  });
}

/** One line that says why a listener could not start. */
function bindError(
  error: unknown,
  protocol: Protocol,
  hostname: string,
  port: number,
): Error {
  const text = describeError(error);
  if (
    error instanceof Deno.errors.AddrInUse || text.includes("EADDRINUSE")
  ) {
    return new UserError(
      `${protocol.toUpperCase()} port ${port} on ${hostname} is already in use; is another listener running?`,
    );
  }
  if (error instanceof Deno.errors.NotCapable) {
    return new UserError(
      `this task may not use ${hostname}:${port}: ${text}`,
    );
  }
  return error instanceof Error ? error : new Error(text);
}

/** A message that arrived, with who sent it and when. */
export interface ReceivedMessage {
  /** Tells messages from connection events. */
  kind: "message";
  /** The message text (for TCP, one line without its line ending). */
  text: string;
  /** `host:port` of the sending socket. */
  sender: string;
  /** When it arrived. */
  receivedAt: Date;
}

/** A TCP sender connected or hung up (UDP has no connections). */
export interface ConnectionEvent {
  /** Whether the sender came or went. */
  kind: "connected" | "disconnected";
  /** `host:port` of the sender's socket. */
  sender: string;
  /** When it happened. */
  receivedAt: Date;
}

/** Everything a receiver reports, in the order it happened. */
export type ReceiverEvent = ReceivedMessage | ConnectionEvent;

/** A listening socket and what arrives on it. */
export interface MessageReceiver {
  /** `host:port` it listens on (the real port when 0 was asked for). */
  readonly address: string;
  /** The port it listens on. */
  readonly port: number;
  /** Messages and connections as they happen; ends after `close()`. */
  readonly events: AsyncIterable<ReceiverEvent>;
  /** Stops listening, hangs up on TCP senders, and ends `events`. */
  close(): void;
}

/**
 * Starts listening. TCP accepts any number of senders at once and splits each
 * one's byte stream into lines; UDP takes datagrams from anyone.
 *
 * @example
 * ```ts
 * const receiver = await openReceiver({ protocol: "udp", hostname: "127.0.0.1", port: 9999 });
 * for await (const event of receiver.events) {
 *   if (event.kind === "message") console.log(`${event.sender}: ${event.text}`);
 * }
 * ```
 */
export async function openReceiver(
  at: SocketAddress,
): Promise<MessageReceiver> {
  return at.protocol === "udp"
    ? await openUdpReceiver(at)
    : openTcpReceiver(at);
}

/** Receives datagrams on a bound UDP socket. */
async function openUdpReceiver(at: SocketAddress): Promise<MessageReceiver> {
  const queue = new EventQueue();
  const socket = dgram.createSocket("udp4");
  socket.on("message", (data: Buffer, from: dgram.RemoteInfo) => {
    queue.push({
      kind: "message",
      text: data.toString("utf8"),
      sender: `${from.address}:${from.port}`,
      receivedAt: new Date(),
    });
  });
  await bindUdp(socket, at.port, at.hostname);
  return receiverOf(at.hostname, socket.address().port, queue, () => {
    socket.close();
  });
}

/** What both protocols hand back; `close` runs its cleanup once. */
function receiverOf(
  hostname: string,
  port: number,
  queue: EventQueue,
  closeSockets: () => void,
): MessageReceiver {
  let closed = false;
  return {
    address: `${hostname}:${port}`,
    port,
    events: queue,
    close(): void {
      if (closed) return;
      closed = true;
      closeSockets();
      queue.end();
    },
  };
}

/** Accepts TCP connections and reads lines from each of them. */
function openTcpReceiver(at: SocketAddress): MessageReceiver {
  const queue = new EventQueue();
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: at.hostname, port: at.port });
  } catch (error) {
    throw bindError(error, "tcp", at.hostname, at.port);
  }
  const connections = new Set<Deno.TcpConn>();
  let closed = false;

  // Each sender gets its own reading loop, so a slow one never holds up the
  // others; all of them feed the same queue.
  const acceptAll = async () => {
    try {
      for await (const conn of listener) {
        connections.add(conn);
        readLines(conn, queue).finally(() => connections.delete(conn));
      }
    } catch (error) {
      if (!closed) throw error;
    }
  };
  acceptAll();

  const port = (listener.addr as Deno.NetAddr).port;
  return receiverOf(at.hostname, port, queue, () => {
    closed = true;
    listener.close();
    for (const conn of connections) {
      try {
        conn.close();
      } catch {
        // Already closed by its sender.
      }
    }
  });
}

/** Reads one TCP connection to its end, queueing one message per line. */
async function readLines(conn: Deno.TcpConn, queue: EventQueue): Promise<void> {
  const remote = conn.remoteAddr as Deno.NetAddr;
  const sender = `${remote.hostname}:${remote.port}`;
  queue.push({ kind: "connected", sender, receivedAt: new Date() });
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(64 * 1024);
  let pending = "";
  const pushLine = (line: string) =>
    queue.push({
      kind: "message",
      text: line.replace(/\r$/, ""),
      sender,
      receivedAt: new Date(),
    });
  try {
    while (true) {
      const count = await conn.read(buffer);
      if (count === null) break;
      pending += decoder.decode(buffer.subarray(0, count), { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) pushLine(line);
    }
    // A sender that hung up without a final newline still sent that line.
    pending += decoder.decode();
    if (pending !== "") pushLine(pending);
  } catch {
    // The receiver was closed, or the sender reset the connection: either
    // way this connection is over.
  }
  queue.push({ kind: "disconnected", sender, receivedAt: new Date() });
}

/**
 * An async-iterable queue: sockets push events as they happen, one
 * `for await` loop takes them out in order.
 */
class EventQueue implements AsyncIterable<ReceiverEvent> {
  #items: ReceiverEvent[] = [];
  #waiting: ((result: IteratorResult<ReceiverEvent>) => void) | undefined;
  #ended = false;

  /** Adds an event, or hands it straight to a waiting loop. */
  push(event: ReceiverEvent): void {
    if (this.#ended) return;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting) waiting({ value: event, done: false });
    else this.#items.push(event);
  }

  /** Ends the iteration once the queued events are taken. */
  end(): void {
    this.#ended = true;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<ReceiverEvent> {
    return {
      next: (): Promise<IteratorResult<ReceiverEvent>> => {
        const item = this.#items.shift();
        if (item) return Promise.resolve({ value: item, done: false });
        if (this.#ended) {
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve) => this.#waiting = resolve);
      },
    };
  }
}
