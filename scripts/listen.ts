/**
 * Listen: the receiving end that the course never had. Prints every message
 * a streamer sends, with the time it arrived and who sent it.
 *
 * Run it in one terminal, and a streamer in another:
 *
 *     deno task listen                          # UDP on 127.0.0.1:9999
 *     deno task process_streaming_0
 *
 *     deno task listen --protocol tcp           # TCP on 127.0.0.1:9999
 *     deno task process_streaming_0 --protocol tcp
 *
 * Permissions (set in deno.json): `--allow-net=127.0.0.1,localhost` to listen
 * on this machine only (nobody else can reach the port), and
 * `--allow-write=out` for `--output`.
 *
 * What it demonstrates: UDP has no connections, so the listener just sees
 * datagrams from whoever sends them, and one that is not running loses them.
 * TCP shows each sender connecting and hanging up, accepts several senders at
 * once, and splits each byte stream into messages at line breaks.
 *
 * Things to try: start two streamers against one TCP listener. Stop the
 * listener while a TCP streamer runs, then while a UDP streamer runs, and
 * compare what each streamer does. Save what arrives with
 * `--output out/received.txt`; stop by itself with `--count 10`.
 *
 * APIs used: node:dgram (UDP), Deno.listen (TCP), via lib/course/sockets.ts.
 *
 * @module
 */
import { runMain } from "../lib/common/cli.ts";
import { parseFlags } from "../lib/common/flags.ts";
import { Logger } from "../lib/common/log.ts";
import { listenForShutdown } from "../lib/common/shutdown.ts";
import {
  openReceiver,
  type Protocol,
  type ReceiverEvent,
  socketFlags,
} from "../lib/course/sockets.ts";

// Only this machine's loopback address: the port is not open to the network.
const HOST = "127.0.0.1";
const PORT = 9999;
// TODO: switch to "tcp" (and stream with --protocol tcp) to compare.
const PROTOCOL: Protocol = "udp";

/** Reads the command line; every flag falls back to a constant above. */
function readFlags() {
  return parseFlags(Deno.args, {
    program: "listen",
    summary: "Receive messages over UDP or TCP and print each one.",
    flags: {
      ...socketFlags({ protocol: PROTOCOL, hostname: HOST, port: PORT }),
      output: {
        type: "string",
        description: "also write every printed line to this file",
      },
      count: {
        type: "number",
        integer: true,
        min: 1,
        description: "stop after this many messages",
      },
    },
  }).flags;
}

/** One line for the terminal that says what happened and who did it. */
function describeEvent(event: ReceiverEvent): string {
  switch (event.kind) {
    case "message":
      return `Received from ${event.sender}: ${event.text}`;
    case "connected":
      return `${event.sender} connected.`;
    case "disconnected":
      return `${event.sender} disconnected.`;
  }
}

/** Listens until --count messages arrived or Ctrl-C is pressed. */
async function main(): Promise<void> {
  const flags = readFlags();
  const protocol = flags.protocol;
  // Start listening first: if the port is taken, that is the one error line.
  const receiver = await openReceiver({
    protocol,
    hostname: flags.host,
    port: flags.port,
  });
  // Messages go to stdout (they are the program's output); --output keeps a copy.
  const log = new Logger({
    style: "python",
    console: "stdout",
    tee: flags.output,
  });
  const shutdown = listenForShutdown();
  // Closing the receiver ends the loop below, wherever it is waiting.
  shutdown.signal.addEventListener("abort", () => receiver.close());
  log.info(
    `Listening for ${protocol.toUpperCase()} messages on ${receiver.address}. Hit CTRL-c to stop.`,
  );

  // Over UDP only messages arrive; over TCP each sender also connects first
  // and disconnects at the end, and those events are printed too.
  let received = 0;
  for await (const event of receiver.events) {
    log.info(describeEvent(event));
    if (event.kind === "message") received++;
    if (received === flags.count) break;
  }
  receiver.close();
  shutdown.dispose();
  const why = shutdown.reason ? `Stopped by ${shutdown.reason}` : "Done";
  log.info(`${why}: ${received} messages received. Listener closed.`);
  log.close();
}

if (import.meta.main) {
  await runMain("listen", main);
}

// With `deno task process_streaming_0 --protocol tcp` in another terminal,
// `deno task listen --protocol tcp` prints:
//
// 2024-05-09 14:05:58,020 - INFO - Listening for TCP messages on 127.0.0.1:9999. Hit CTRL-c to stop.
// 2024-05-09 14:06:00,129 - INFO - 127.0.0.1:53422 connected.
// 2024-05-09 14:06:00,131 - INFO - Received from 127.0.0.1:53422: [2023, 1, 1, 0:05, 13]
// 2024-05-09 14:06:03,134 - INFO - Received from 127.0.0.1:53422: [2023, 1, 1, 0:25, 13]
// 2024-05-09 14:06:04,871 - INFO - 127.0.0.1:53422 disconnected.
// ^C2024-05-09 14:06:09,500 - INFO - Stopped by SIGINT: 2 messages received. Listener closed.
