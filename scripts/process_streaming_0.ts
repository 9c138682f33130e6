/**
 * Process streaming 0: a fake sensor that streams temperatures, one row every
 * few seconds.
 *
 * Run it with:
 *
 *     deno task process_streaming_0
 *
 * Permissions (set in deno.json): `--allow-read=data` to read the CSV file,
 * and `--allow-net=127.0.0.1,localhost` to send to a listener on this machine.
 * It may not write files and may not reach any other computer.
 *
 * It reads `data/batchfile_0_farenheit.csv` (columns Year, Month, Day, Time,
 * TempF) and sends each reading as a message like `[2023, 1, 3, 7:55, 12]` to
 * 127.0.0.1:9999, oldest reading first. The file lists the newest reading
 * first, so the rows are sorted by date and time as numbers: sorted as text,
 * "10:15" would come before "7:55".
 *
 * Nobody listens by default, and over UDP that is no error: the messages just
 * vanish. To see them arrive, start a listener in a second terminal first:
 *
 *     deno task listen                    # UDP
 *     deno task listen --protocol tcp     # TCP, then run this with --protocol tcp
 *
 * Things to try: stop the listener while TCP is streaming (the sender fails,
 * because TCP knows it lost its receiver; it notices at the next write, so the
 * message just before may be gone), then do the same with UDP (nothing
 * happens: UDP never knew). Change DELAY_SECONDS, or pass `--delay 0.5`. Pass
 * `--loop` for an endless stream and stop it with Ctrl-C. See `--help` for all
 * flags.
 *
 * APIs used, in this file: node:dgram (UDP: createSocket, bind, send, close)
 * and Deno.connect (TCP: connect, write, close), in `openSocket`. Via lib/:
 * the CSV reader (lib/course/csv_rows.ts) and Ctrl-C (lib/common/shutdown.ts).
 *
 * @module
 */
import dgram from "node:dgram";
import { runMain, UserError } from "../lib/common/cli.ts";
import { type CsvRow, openCsvRows } from "../lib/course/csv_rows.ts";
import { numberFlag, parseFlags, stringFlag } from "../lib/common/flags.ts";
import { Logger } from "../lib/common/log.ts";
import { listenForShutdown, sleep } from "../lib/common/shutdown.ts";
import { writeAll } from "../lib/common/write_all.ts";
import {
  oneLine,
  type Protocol,
  requireNetAccess,
  socketError,
  socketFlags,
} from "../lib/course/sockets.ts";

// The original used "localhost", which some machines resolve to the IPv6
// address ::1; the listener listens on 127.0.0.1, so say that directly.
const HOST = "127.0.0.1";
const PORT = 9999;
const PROTOCOL: Protocol = "udp";
// TODO: copy the module 1 data file here, or point this at your own.
const INPUT_FILE_NAME = "data/batchfile_0_farenheit.csv";
// TODO: make the stream faster or slower (seconds between messages).
const DELAY_SECONDS = 3;
const DIVIDER = "=".repeat(47);

/** Reads the command line; every flag falls back to a constant above. */
function readFlags() {
  return parseFlags(Deno.args, {
    program: "process_streaming_0",
    summary: "Stream temperature readings from a CSV file, oldest first.",
    flags: {
      delay: numberFlag(DELAY_SECONDS, "seconds between messages", { min: 0 }),
      ...socketFlags({ protocol: PROTOCOL, hostname: HOST, port: PORT }),
      input: stringFlag(INPUT_FILE_NAME, "CSV file to stream"),
      limit: {
        type: "number",
        integer: true,
        min: 1,
        description: "stop after this many messages",
      },
      loop: {
        type: "boolean",
        description: "start over at the end: an endless stream",
      },
    },
  }).flags;
}

/**
 * Turns Year, Month, Day and Time ("7:55") into minutes, so that readings
 * compare as moments in time. Returns undefined when a field is not a number.
 */
function minutesSince1970(fields: string[]): number | undefined {
  const [year, month, day] = fields.slice(0, 3).map(Number);
  const [hours, minutes] = (fields[3] ?? "").split(":").map(Number);
  const parts = [year, month, day, hours, minutes];
  if (parts.some((part) => !Number.isInteger(part))) return undefined;
  return Date.UTC(year, month - 1, day, hours, minutes) / 60_000;
}

/**
 * Reads every row and sorts them oldest first. Sorting needs all the rows at
 * once, which is fine for a small sensor file; the student template streams.
 */
async function readOldestFirst(
  input: string,
  log: Logger,
): Promise<string[][]> {
  const csv = await openCsvRows(input);
  log.info(`Opened for reading: ${input}.`);
  log.info(
    `Skipped header row: [${csv.header.map((h) => `'${h}'`).join(", ")}]`,
  );
  const readings: { when: number; row: CsvRow }[] = [];
  for await (const row of csv.rows) {
    const when = minutesSince1970(row.fields);
    if (row.problem || when === undefined) {
      log.warn(
        `Skipped line ${row.line}: not a Year,Month,Day,Time,TempF row.`,
      );
      continue;
    }
    readings.push({ when, row });
  }
  readings.sort((a, b) => a.when - b.when);
  return readings.map((reading) => reading.row.fields);
}

/** What `openSocket` returns: send one message; close the socket. */
interface Socket {
  send(message: string): Promise<void>;
  close(): void;
}

/** Opens the socket: UDP needs no connection, TCP connects first. */
async function openSocket(
  protocol: Protocol,
  host: string,
  port: number,
): Promise<Socket> {
  if (protocol === "udp") {
    // A UDP socket, bound to a port of its own on this machine's loopback
    // address (the only address --allow-net grants). There is no connection.
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    return {
      // Each send is one datagram; nothing says whether anyone got it.
      send: (message) =>
        new Promise((resolve, reject) =>
          socket.send(message, port, host, (error) => {
            if (error) reject(error);
            else resolve();
          })
        ),
      close: () => socket.close(),
    };
  }
  // TCP connects first: with no listener there this fails now, before any row.
  const conn = await Deno.connect({ hostname: host, port });
  const encoder = new TextEncoder();
  return {
    // TCP carries bytes, not messages: each message is written as one line.
    send: (message) => writeAll(conn, encoder.encode(oneLine(message) + "\n")),
    close: () => conn.close(),
  };
}

/** Yields the rows once, or over and over when `loop` is set. */
function* rowsToSend(rows: string[][], loop: boolean): Generator<string[]> {
  do yield* rows; while (loop && rows.length > 0);
}

/** Streams the readings, oldest first, until the end, --limit, or Ctrl-C. */
async function main(): Promise<void> {
  const flags = readFlags();
  // The task may only reach this machine: any other --host is one line.
  requireNetAccess(flags.host, flags.port);
  // Like Python's logging, the log goes to stderr with a timestamp per line.
  const log = new Logger({ style: "python" });
  // From here on Ctrl-C no longer kills the program; it asks it to stop.
  const shutdown = listenForShutdown();
  log.info(DIVIDER);
  log.info("Starting fake streaming process.");
  log.info(
    `Starting to stream data from ${flags.input} to ('${flags.host}', ${flags.port}) over ${flags.protocol.toUpperCase()}.`,
  );
  const rows = await readOldestFirst(flags.input, log);
  if (rows.length === 0) throw new UserError(`no readings in ${flags.input}`);

  const { protocol, host, port } = flags;
  const sender = await openSocket(protocol, host, port).catch((error) => {
    throw socketError(error, protocol, host, port);
  });
  let sent = 0;
  try {
    for (const fields of rowsToSend(rows, flags.loop)) {
      // Wait between messages, not after the last one. Ctrl-C ends the wait.
      if (sent > 0) await sleep(flags.delay * 1000, shutdown.signal);
      if (shutdown.signal.aborted) break;
      // The message is plain text: the fields, comma-separated, in brackets.
      const message = `[${fields.join(", ")}]`;
      await sender.send(message).catch((error) => {
        throw socketError(error, protocol, host, port);
      });
      sent++;
      // The original printed Python's bytes notation b'...'; kept for fidelity.
      log.info(
        `Sent: b'${message}' on port ${flags.port}. Hit CTRL-c to stop.`,
      );
      if (sent === flags.limit) break;
    }
  } finally {
    // Whatever ended the loop, the socket is closed before the program ends.
    sender.close();
    shutdown.dispose();
  }
  if (shutdown.signal.aborted) {
    log.info(
      `Stopped by ${shutdown.reason} after ${sent} messages; socket closed. Goodbye!`,
    );
    return;
  }
  log.info("Streaming complete!");
  log.info(DIVIDER);
}

if (import.meta.main) {
  await runMain("process_streaming_0", main);
}

// A run (with `deno task listen` in another terminal) prints:
//
// 2024-05-09 14:06:00,101 - INFO - ===============================================
// 2024-05-09 14:06:00,101 - INFO - Starting fake streaming process.
// 2024-05-09 14:06:00,101 - INFO - Starting to stream data from data/batchfile_0_farenheit.csv to ('127.0.0.1', 9999) over UDP.
// 2024-05-09 14:06:00,112 - INFO - Opened for reading: data/batchfile_0_farenheit.csv.
// 2024-05-09 14:06:00,112 - INFO - Skipped header row: ['Year', 'Month', 'Day', 'Time', 'TempF']
// 2024-05-09 14:06:00,130 - INFO - Sent: b'[2023, 1, 1, 0:05, 13]' on port 9999. Hit CTRL-c to stop.
// 2024-05-09 14:06:03,133 - INFO - Sent: b'[2023, 1, 1, 0:25, 13]' on port 9999. Hit CTRL-c to stop.
// ^C2024-05-09 14:06:04,870 - INFO - Stopped by SIGINT after 2 messages; socket closed. Goodbye!
