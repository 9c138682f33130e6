/**
 * The receiving side of UDP for `deno task listen`: datagrams on a bound
 * socket, with `node:dgram` (because `Deno.listenDatagram` still needs the
 * `--unstable-net` flag in Deno 2.9). The sending side is in the streaming
 * scripts themselves, where the student reads it.
 * There is no connection: a message to a port where nobody listens simply
 * disappears, and nothing promises that datagrams arrive, or arrive in order.
 *
 * @example
 * ```ts
 * import { openUdpReceiver } from "./udp.ts";
 *
 * const receiver = await openUdpReceiver({ protocol: "udp", hostname: "127.0.0.1", port: 0 });
 * for await (const event of receiver.events) console.log(event);
 * ```
 *
 * @module
 */
import dgram from "node:dgram";
import type { Buffer } from "node:buffer";
import { StreamQueue } from "../common/stream_queue.ts";
import { requireNetAccess, type SocketAddress } from "./socket_flags.ts";
import {
  bindError,
  type MessageReceiver,
  type ReceiverEvent,
  receiverOf,
} from "./socket_messages.ts";

/**
 * Receives datagrams on a bound UDP socket.
 *
 * @example
 * ```ts
 * const receiver = await openUdpReceiver({ protocol: "udp", hostname: "127.0.0.1", port: 0 });
 * ```
 */
export async function openUdpReceiver(
  at: SocketAddress,
): Promise<MessageReceiver> {
  requireNetAccess(at.hostname, at.port);
  const queue = new StreamQueue<ReceiverEvent>();
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
