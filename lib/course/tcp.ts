/**
 * Text messages over TCP. TCP first connects (so a listener that is not there
 * is an error at once), then delivers every byte, in order, or reports that it
 * could not. TCP carries a stream of bytes, not messages, so each message is
 * written as one line: the text, then `\n`; the receiver splits the stream at
 * line breaks (lib/common/lines.ts). Uses `Deno.connect` and `Deno.listen`.
 *
 * @example
 * ```ts
 * import { openTcpReceiver, openTcpSender } from "./tcp.ts";
 *
 * const receiver = openTcpReceiver({ protocol: "tcp", hostname: "127.0.0.1", port: 0 });
 * const sender = await openTcpSender({ protocol: "tcp", hostname: "127.0.0.1", port: receiver.port });
 * await sender.send("hello");
 * sender.close();
 * ```
 *
 * @module
 */
import { describeError, UserError } from "../common/cli.ts";
import { readLines } from "../common/lines.ts";
import { StreamQueue } from "../common/stream_queue.ts";
import { writeAll } from "../common/write_all.ts";
import type { SocketAddress } from "./socket_flags.ts";
import {
  bindError,
  type MessageReceiver,
  type MessageSender,
  type ReceiverEvent,
  receiverOf,
} from "./socket_messages.ts";

/**
 * A TCP connection to `to` that writes each message as one line. A listener
 * that is not there throws {@linkcode UserError} at once.
 *
 * @example
 * ```ts
 * const sender = await openTcpSender({ protocol: "tcp", hostname: "127.0.0.1", port: 9999 });
 * ```
 */
export async function openTcpSender(to: SocketAddress): Promise<MessageSender> {
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
        await writeAll(conn, bytes);
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

/**
 * Accepts TCP connections and reads lines from each of them.
 *
 * @example
 * ```ts
 * const receiver = openTcpReceiver({ protocol: "tcp", hostname: "127.0.0.1", port: 0 });
 * ```
 */
export function openTcpReceiver(at: SocketAddress): MessageReceiver {
  const queue = new StreamQueue<ReceiverEvent>();
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
        readMessages(conn, queue).finally(() => connections.delete(conn));
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
async function readMessages(
  conn: Deno.TcpConn,
  queue: StreamQueue<ReceiverEvent>,
): Promise<void> {
  const remote = conn.remoteAddr as Deno.NetAddr;
  const sender = `${remote.hostname}:${remote.port}`;
  queue.push({ kind: "connected", sender, receivedAt: new Date() });
  try {
    // A sender that hung up without a final newline still sent that line.
    for await (const text of readLines(conn.readable)) {
      queue.push({ kind: "message", text, sender, receivedAt: new Date() });
    }
  } catch {
    // The receiver was closed, or the sender reset the connection: either
    // way this connection is over.
  }
  queue.push({ kind: "disconnected", sender, receivedAt: new Date() });
}
