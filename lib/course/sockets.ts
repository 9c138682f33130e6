/**
 * The socket plumbing of the streaming scripts: the listener's receiving side
 * over UDP or TCP with one small API, and, for the senders, the shared flags,
 * the permission check, the one-line errors and TCP's line framing. The
 * senders' own socket calls (create, send, close; connect, write) are in the
 * streaming scripts, where the student reads them.
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
 * This module only picks the side: lib/course/udp.ts and lib/course/tcp.ts do
 * the work, lib/course/socket_flags.ts has the shared flags,
 * lib/course/socket_messages.ts the errors and framing.
 *
 * @example
 * ```ts
 * import { openReceiver } from "./sockets.ts";
 *
 * const receiver = await openReceiver({ protocol: "tcp", hostname: "127.0.0.1", port: 9999 });
 * for await (const event of receiver.events) {
 *   if (event.kind === "message") console.log(event.sender, event.text);
 * }
 * ```
 *
 * @module
 */

import type { SocketAddress } from "./socket_flags.ts";
import type { MessageReceiver } from "./socket_messages.ts";
import { openTcpReceiver } from "./tcp.ts";
import { openUdpReceiver } from "./udp.ts";

export {
  type Protocol,
  PROTOCOLS,
  requireNetAccess,
  type SocketAddress,
  socketFlags,
} from "./socket_flags.ts";
export {
  type ConnectionEvent,
  type MessageReceiver,
  oneLine,
  type ReceivedMessage,
  type ReceiverEvent,
  socketError,
} from "./socket_messages.ts";

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
