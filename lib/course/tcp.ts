/**
 * The receiving side of TCP for `deno task listen`: accepts any number of
 * senders (`Deno.listen`) and splits each one's byte stream into messages at
 * line breaks (lib/common/lines.ts). The sending side (`Deno.connect`, one
 * line per message) is in the streaming scripts themselves.
 *
 * @example
 * ```ts
 * import { openTcpReceiver } from "./tcp.ts";
 *
 * const receiver = openTcpReceiver({ protocol: "tcp", hostname: "127.0.0.1", port: 0 });
 * for await (const event of receiver.events) console.log(event);
 * ```
 *
 * @module
 */
import { readLines } from "../common/lines.ts";
import { StreamQueue } from "../common/stream_queue.ts";
import { requireNetAccess, type SocketAddress } from "./socket_flags.ts";
import {
  bindError,
  type MessageReceiver,
  type ReceiverEvent,
  receiverOf,
} from "./socket_messages.ts";

/**
 * Accepts TCP connections and reads lines from each of them.
 *
 * @example
 * ```ts
 * const receiver = openTcpReceiver({ protocol: "tcp", hostname: "127.0.0.1", port: 0 });
 * ```
 */
export function openTcpReceiver(at: SocketAddress): MessageReceiver {
  requireNetAccess(at.hostname, at.port);
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
