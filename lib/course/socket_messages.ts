/**
 * What the UDP and TCP sides have in common: the receiver interface and the
 * events it reports (queued on a {@linkcode StreamQueue}), the one-line errors
 * of a bind or a send that failed, and the one-line framing of TCP messages.
 *
 * @example
 * ```ts
 * import type { ReceiverEvent } from "./socket_messages.ts";
 *
 * function show(event: ReceiverEvent): string {
 *   return event.kind === "message" ? event.text : `${event.sender} ${event.kind}`;
 * }
 * ```
 *
 * @module
 */
import { describeError, UserError } from "../common/cli.ts";
import type { StreamQueue } from "../common/stream_queue.ts";
import type { Protocol } from "./socket_flags.ts";

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
 * What both protocols hand back; `close` runs `closeSockets` once and ends
 * the events after those already queued.
 *
 * @example
 * ```ts
 * import { StreamQueue } from "../common/stream_queue.ts";
 *
 * const queue = new StreamQueue<ReceiverEvent>();
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const receiver = receiverOf("127.0.0.1", 9999, queue, () => listener.close());
 * ```
 */
export function receiverOf(
  hostname: string,
  port: number,
  queue: StreamQueue<ReceiverEvent>,
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
      queue.close();
    },
  };
}

/**
 * One line that says why a socket could not be bound: the port is taken, or
 * this task may not use it.
 *
 * @example
 * ```ts
 * try {
 *   Deno.listen({ hostname: "127.0.0.1", port: 9999 });
 * } catch (error) {
 *   throw bindError(error, "tcp", "127.0.0.1", 9999);
 * }
 * ```
 */
export function bindError(
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

/**
 * One line that says why sending failed: no TCP listener, a listener that
 * went away, an address this task may not reach. Errors that are bugs are
 * returned as they are.
 *
 * @example
 * ```ts
 * try {
 *   await Deno.connect({ hostname: "127.0.0.1", port: 9999 });
 * } catch (error) {
 *   throw socketError(error, "tcp", "127.0.0.1", 9999);
 * }
 * ```
 */
export function socketError(
  error: unknown,
  protocol: Protocol,
  hostname: string,
  port: number,
): Error {
  const address = `${hostname}:${port}`;
  const text = describeError(error);
  if (error instanceof UserError) return error;
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new UserError(
      `no TCP listener at ${address}; start one first with: deno task listen --protocol tcp`,
    );
  }
  if (
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset
  ) {
    return new UserError(`the TCP listener at ${address} went away: ${text}`);
  }
  if (error instanceof Deno.errors.NotCapable) {
    return new UserError(`this task may not reach ${address}: ${text}`);
  }
  const via = protocol.toUpperCase();
  if (
    error instanceof Error &&
    ("code" in error || error instanceof Deno.errors.NotFound ||
      error.name.startsWith("Connection"))
  ) {
    return new UserError(`could not send to ${address} over ${via}: ${text}`);
  }
  return error instanceof Error ? error : new Error(text);
}

/**
 * A message as one line for TCP, which carries bytes, not messages: a line
 * break inside it (a quoted CSV field may hold one) becomes the two
 * characters `\n`, so the receiver's split at line breaks finds it whole.
 *
 * @example
 * ```ts
 * oneLine('a,"two\nlines"'); // 'a,"two\\nlines"'
 * ```
 */
export function oneLine(message: string): string {
  return message.replace(/\r\n|\r|\n/g, "\\n");
}
