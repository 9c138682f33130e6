/**
 * Text messages over UDP, one datagram each, with `node:dgram` (because
 * `Deno.listenDatagram` still needs the `--unstable-net` flag in Deno 2.9).
 * There is no connection: a message to a port where nobody listens simply
 * disappears, and nothing promises that datagrams arrive, or arrive in order.
 *
 * @example
 * ```ts
 * import { openUdpReceiver, openUdpSender } from "./udp.ts";
 *
 * const receiver = await openUdpReceiver({ protocol: "udp", hostname: "127.0.0.1", port: 0 });
 * const sender = await openUdpSender({ protocol: "udp", hostname: "127.0.0.1", port: receiver.port });
 * await sender.send("hello");
 * ```
 *
 * @module
 */
import dgram from "node:dgram";
import type { Buffer } from "node:buffer";
import { describeError, UserError } from "../common/cli.ts";
import { StreamQueue } from "../common/stream_queue.ts";
import type { SocketAddress } from "./socket_flags.ts";
import {
  bindError,
  type MessageReceiver,
  type MessageSender,
  type ReceiverEvent,
  receiverOf,
} from "./socket_messages.ts";

/**
 * A UDP socket bound to a local port of its own, sending datagrams to `to`.
 *
 * @example
 * ```ts
 * const sender = await openUdpSender({ protocol: "udp", hostname: "127.0.0.1", port: 9999 });
 * ```
 */
export async function openUdpSender(to: SocketAddress): Promise<MessageSender> {
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
