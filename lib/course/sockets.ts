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
 * This module only picks the side: lib/course/udp.ts and lib/course/tcp.ts do
 * the work, lib/course/socket_flags.ts has the shared flags.
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

import type { SocketAddress } from "./socket_flags.ts";
import type { MessageReceiver, MessageSender } from "./socket_messages.ts";
import { openTcpReceiver, openTcpSender } from "./tcp.ts";
import { openUdpReceiver, openUdpSender } from "./udp.ts";

export {
  type Protocol,
  PROTOCOLS,
  type SocketAddress,
  socketFlags,
} from "./socket_flags.ts";
export type {
  ConnectionEvent,
  MessageReceiver,
  MessageSender,
  ReceivedMessage,
  ReceiverEvent,
} from "./socket_messages.ts";

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
