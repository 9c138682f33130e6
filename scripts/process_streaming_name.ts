/**
 * Process streaming, your name: stream your own CSV file, one row every 1-3
 * seconds, into out/out9.txt and to a listener.
 *
 * This is the template you copy: save it as
 * `scripts/process_streaming_yourname.ts`, change the TODO lines, and run
 *
 *     deno task stream scripts/process_streaming_yourname.ts
 *
 * (this file itself runs with `deno task process_streaming_name`).
 *
 * Permissions (set in deno.json): `--allow-read=data,out` to read the input
 * CSV, `--allow-write=out` for out9.txt and the log, and
 * `--allow-net=127.0.0.1,localhost` to reach a listener on this machine only.
 *
 * Everything you edit is at the top: the constants marked TODO and
 * `transformRow`, the one place to change each row. Run `deno fmt` after
 * editing. A copy names itself after its file: `--help`, its error lines and
 * its log file (`out/process_streaming_yourname_log.txt`) all say
 * `process_streaming_yourname`, with no further edit.
 *
 * Each row goes through `transformRow`, is written to out9.txt as proper CSV
 * (fields with commas are quoted, so "Heron Marsh, north blind" stays one
 * field), sent to the listener as that same line, and logged as
 * `Sent and logged: ...` to the console and the log file. A row with the wrong
 * number of fields, or with a quote that is never closed, is not sent: it is
 * logged as a warning with its line number, counted, and the next line goes on.
 *
 * Things to try: run `deno task listen` in a second terminal to watch the rows
 * arrive. Switch PROTOCOL to "tcp" (or pass `--protocol tcp`) and run
 * `deno task listen --protocol tcp`: now starting without the listener is an
 * error, and stopping the listener stops the stream (at the next row: TCP
 * only notices then). With UDP neither happens. Stop a run with Ctrl-C and
 * check that out9.txt is still valid CSV. See `--help` for all flags.
 *
 * APIs used, in this file: node:dgram (UDP: createSocket, bind, send, close)
 * and Deno.connect (TCP: connect, write, close), in `openSocket`. Via lib/:
 * the CSV reader and writer (lib/course/csv_rows.ts), Ctrl-C
 * (lib/common/shutdown.ts).
 *
 * @module
 */
import dgram from "node:dgram";
import { runMain, scriptName, UserError } from "../lib/common/cli.ts";
import {
  checkRowWidth,
  CsvRowWriter,
  formatCsvRow,
  openCsvRows,
} from "../lib/course/csv_rows.ts";
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

// TODO: put your own CSV file in data/ and name it here.
const INPUT_FILE_NAME = "data/bird_counts_2024.csv";
// TODO: the header row of out9.txt, one name per field transformRow returns
// (null keeps the input file's header).
const OUTPUT_HEADER: string[] | null = null;
// TODO: try "tcp" as well (with `deno task listen --protocol tcp`).
const PROTOCOL: Protocol = "udp";
// TODO: pick your own pace; each wait is random between these two.
const MIN_DELAY_SECONDS = 1;
const MAX_DELAY_SECONDS = 3;
const OUTPUT_FILE_NAME = "out/out9.txt";
const HOST = "127.0.0.1";
const PORT = 9999;

/**
 * TODO: change each row here before it is sent and saved; return undefined
 * to leave a row out. For example, to keep only the date, species and count
 * of the bird file (and set OUTPUT_HEADER to ["Date", "Species", "Count"]):
 *
 *     const [date, , , species, count] = fields;
 *     return [date, species, count];
 */
function transformRow(fields: string[]): string[] | undefined {
  return fields;
}

// Below this line nothing needs changing. This script's name comes from its
// file name, so a copy calls itself by its own name.
const PROGRAM = scriptName(import.meta.url);

/** Reads the command line; every flag falls back to a constant above. */
function readFlags() {
  const limit = "stop after N rows";
  return parseFlags(Deno.args, {
    program: `stream scripts/${PROGRAM}.ts`,
    summary: "Stream a CSV file into out9.txt and to a listener, row by row.",
    flags: {
      input: stringFlag(INPUT_FILE_NAME, "CSV to stream"),
      output: stringFlag(OUTPUT_FILE_NAME, "CSV copy of the rows"),
      log: stringFlag(`out/${PROGRAM}_log.txt`, "log file"),
      min_delay: numberFlag(MIN_DELAY_SECONDS, "shortest wait (s)", { min: 0 }),
      max_delay: numberFlag(MAX_DELAY_SECONDS, "longest wait (s)", { min: 0 }),
      limit: { type: "number", integer: true, min: 1, description: limit },
      ...socketFlags({ protocol: PROTOCOL, hostname: HOST, port: PORT }),
    },
  }).flags;
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

/** A random wait in milliseconds between the two limits, in seconds. */
function randomDelayMs(minSeconds: number, maxSeconds: number): number {
  return (minSeconds + Math.random() * (maxSeconds - minSeconds)) * 1000;
}

/** Streams the input file row by row until its end, --limit, or Ctrl-C. */
async function main(): Promise<void> {
  const flags = readFlags();
  if (flags.min_delay > flags.max_delay) {
    throw new UserError("--min_delay must not be larger than --max_delay");
  }
  // Open the input and the connection before creating any file, so that a
  // typo in a file name or a missing TCP listener leaves nothing behind.
  const csv = await openCsvRows(flags.input);
  const { protocol, host, port } = flags;
  requireNetAccess(host, port); // this task may only reach this machine
  const sender = await openSocket(protocol, host, port).catch((error) => {
    throw socketError(error, protocol, host, port);
  });
  // Log and data go to separate files; mixing them was a bug in the originals.
  const log = new Logger({ style: "python", tee: flags.log });
  // out9.txt is created at the first row that passed checkRowWidth, so a
  // header that does not fit leaves the last run's out9.txt as it was.
  let output: CsvRowWriter | undefined;
  // From here on Ctrl-C no longer kills the program; it asks it to stop.
  const shutdown = listenForShutdown();
  log.info(
    `Streaming ${flags.input} to ${host}:${port} over ${protocol.toUpperCase()} and into ${flags.output}.`,
  );
  // The header goes to out9.txt only; the listener gets the data rows.
  const header = OUTPUT_HEADER ?? csv.header;

  let streamed = 0;
  let skipped = 0;
  let ending = "Stopped by an error";
  try {
    // Rows are read from the file one at a time, as the loop asks for them.
    for await (const row of csv.rows) {
      if (row.problem) {
        skipped++;
        log.warn(`Skipped line ${row.line}: ${row.problem}.`);
        continue;
      }
      const fields = transformRow(row.fields);
      if (fields === undefined) continue;
      // The row must fit the header of out9.txt, or the run stops here.
      checkRowWidth(fields, header, row.line, "transformRow()");
      // Wait between rows, not before the first. Ctrl-C ends the wait at once.
      if (streamed > 0) {
        await sleep(
          randomDelayMs(flags.min_delay, flags.max_delay),
          shutdown.signal,
        );
      }
      if (shutdown.signal.aborted) break;
      // Send first, then write: out9.txt lists exactly the rows that left.
      output ??= new CsvRowWriter(flags.output, header); // header row first
      const line = formatCsvRow(fields);
      await sender.send(line).catch((error) => {
        throw socketError(error, protocol, host, port);
      });
      output.writeRow(fields);
      streamed++;
      log.info(`Sent and logged: ${line}`);
      if (streamed === flags.limit) break;
    }
    ending = shutdown.signal.aborted ? `Stopped by ${shutdown.reason}` : "Done";
    output ??= new CsvRowWriter(flags.output, header); // no row: the header
  } finally {
    // Each row is already on disk; closing just lets go of the file and socket.
    output?.close();
    sender.close();
    shutdown.dispose();
    log.info(
      `${ending}: ${streamed} rows streamed, ${skipped} malformed rows skipped.`,
    );
    log.close();
  }
}

if (import.meta.main) {
  await runMain(PROGRAM, main);
}

// A run prints (and writes to out/process_streaming_name_log.txt):
//
// 2024-05-09 14:06:00,101 - INFO - Streaming data/bird_counts_2024.csv to 127.0.0.1:9999 over UDP and into out/out9.txt.
// 2024-05-09 14:06:00,125 - INFO - Sent and logged: 2024-04-06,06:40,"Heron Marsh, north blind",Great Blue Heron,3,"two adults, one on nest"
// 2024-05-09 14:06:02,410 - INFO - Sent and logged: 2024-04-06,06:52,"Heron Marsh, north blind",Red-winged Blackbird,27,
// ^C2024-05-09 14:06:03,002 - INFO - Stopped by SIGINT: 2 rows streamed, 0 malformed rows skipped.
//
// and out/out9.txt then holds the header and those two rows.
