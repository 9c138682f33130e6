/**
 * # Status: see from afar which programs are alive
 *
 * ```sh
 * deno task upload_data_files_added_to_directory data/incoming \
 *   --heartbeat_topic_name heartbeats --heartbeat_program_id scope-pc-1 --heartbeat_interval_secs 30
 * deno task status --heartbeat_topic_name heartbeats      # then open http://127.0.0.1:8080
 * ```
 *
 * Permissions: `--allow-net` (the brokers in the config, and the page's own
 * port), `--allow-read` (the config and its certificates), `--allow-env`
 * (`$VARIABLES` in the config), `--allow-write=.kafkacrypto,config` (only
 * with a `[kafkacrypto]` config: the node moves its key ratchet on, as every
 * KafkaCrypto node does). Nothing else is written and nothing is run.
 *
 * With a `[kafkacrypto]` section in the config the heartbeats are encrypted
 * end to end (the tools here and OpenMSIStream's send them through their
 * node); this tool then reads them as that node, asking each sender for its
 * key (15 s at most per sender run; one whose key never comes is not shown).
 *
 * The watcher, the reconstructor (and OpenMSIStream's programs) send a
 * heartbeat message to a Kafka topic every few seconds or minutes when
 * given `--heartbeat_topic_name`. This tool reads that topic from its start
 * and serves a page that shows every program seen: its host, when its last
 * heartbeat came (a program that missed three of its intervals is marked
 * stale), the files and bytes it moved, its group lag, and a small chart of
 * the bytes per interval. The page updates itself: the server pushes the
 * table to it as server-sent events, on every heartbeat and every second.
 *
 * The page is served on 127.0.0.1 only, unless `--host` says otherwise (the
 * heartbeats name the lab's hosts: show them only to whom you mean to).
 *
 * Try: start the watcher with `--heartbeat_interval_secs 5`, open the page,
 * copy a file into the folder and watch its bar appear; then stop the watcher
 * and watch it turn stale after 15 seconds.
 *
 * @module
 */
import { runMain, UsageError, UserError } from "../lib/common/cli.ts";
import { parseFlags } from "../lib/common/flags.ts";
import { Logger } from "../lib/common/log.ts";
import { listenForShutdown, untilStopped } from "../lib/common/shutdown.ts";
import { checkTopicName, CONFIG_FLAG } from "../lib/kafka/kafka_flags.ts";
import { describeSettings, loadKafkaConfig } from "../lib/kafka/config.ts";
import {
  followHeartbeats,
  heartbeatSettings,
} from "../lib/kafka/heartbeats.ts";
import { createKafka } from "../lib/kafka/client.ts";
import { TransferCrypto } from "../lib/transfer/transfer_crypto.ts";
import { ProgramBoard } from "../lib/status/program_board.ts";
import {
  EVENTS_PATH,
  serverSentEvent,
  statusPageHtml,
} from "../lib/status/status_page.ts";

const PROGRAM = "status";
/** This machine only: the page is not open to the network. */
const DEFAULT_HOST = "127.0.0.1";
const DEFAULT_PORT = 8080;
/** A program seen once is stale after this long (3 x OpenMSIStream's 15 min). */
const DEFAULT_STALE_SECONDS = 45 * 60;
/** How often the page is pushed the table even without a new heartbeat. */
const PUSH_SECONDS = 1;

const log = new Logger({ style: "bracket", program: PROGRAM });

/** Reads the command line. */
function readCommandLine() {
  const { flags } = parseFlags(Deno.args, {
    program: PROGRAM,
    summary: "Serve a live page of the programs sending heartbeats to a topic.",
    flags: {
      config: CONFIG_FLAG,
      heartbeat_topic_name: {
        type: "string",
        description: "the topic the programs send heartbeats to (required)",
      },
      host: {
        type: "string",
        default: DEFAULT_HOST,
        description: "the address the page is served on",
      },
      port: {
        type: "number",
        default: DEFAULT_PORT,
        integer: true,
        min: 1,
        max: 65535,
        description: "the page's port",
      },
      stale_seconds: {
        type: "number",
        default: DEFAULT_STALE_SECONDS,
        min: 1,
        description: "a program seen only once is stale after this long",
      },
    },
  });
  if (!flags.heartbeat_topic_name) {
    throw new UsageError("name the topic with --heartbeat_topic_name");
  }
  checkTopicName(flags.heartbeat_topic_name, "--heartbeat_topic_name");
  return { ...flags, topic: flags.heartbeat_topic_name };
}

/** The pages' event streams, each pushed every view. */
class Listeners {
  readonly #streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #encoder = new TextEncoder();

  /** A new stream that starts with `first`. */
  open(first: string): ReadableStream<Uint8Array> {
    let mine: ReadableStreamDefaultController<Uint8Array>;
    return new ReadableStream({
      start: (controller) => {
        mine = controller;
        this.#streams.add(controller);
        controller.enqueue(this.#encoder.encode(first));
      },
      cancel: () => void this.#streams.delete(mine),
    });
  }

  /** Sends `event` to every page. */
  push(event: string): void {
    const bytes = this.#encoder.encode(event);
    for (const stream of this.#streams) stream.enqueue(bytes);
  }

  /** Ends every stream. */
  close(): void {
    for (const stream of this.#streams) stream.close();
    this.#streams.clear();
  }
}

/** Answers the page, its event stream, and 404 for anything else. */
function answer(
  request: Request,
  topic: string,
  board: ProgramBoard,
  listeners: Listeners,
): Response {
  const path = new URL(request.url).pathname;
  if (path === "/") {
    return new Response(statusPageHtml(topic), {
      headers: { "content-type": "text/html; charset=utf-8" },
    });
  }
  if (path === EVENTS_PATH) {
    const first = serverSentEvent(board.view(new Date()));
    return new Response(listeners.open(first), {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
      },
    });
  }
  return new Response("not found\n", { status: 404 });
}

/** Starts the web server; a port in use is one line. */
function serve(
  options: ReturnType<typeof readCommandLine>,
  handler: (request: Request) => Response,
): Deno.HttpServer {
  try {
    return Deno.serve({
      hostname: options.host,
      port: options.port,
      onListen: () => {},
    }, handler);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new UserError(
        `port ${options.port} on ${options.host} is in use; choose another with --port`,
      );
    }
    throw error;
  }
}

/** Reads the heartbeats and serves the page until Ctrl-C or SIGTERM. */
async function showStatus(
  options: ReturnType<typeof readCommandLine>,
): Promise<void> {
  const shutdown = listenForShutdown();
  const settings = await loadKafkaConfig(options.config, (w) => log.warn(w));
  const board = new ProgramBoard({ staleSeconds: options.stale_seconds });
  const listeners = new Listeners();
  const pushView = () =>
    listeners.push(serverSentEvent(board.view(new Date())));
  // The port first: one in use is said before Kafka is asked anything.
  const server = serve(
    options,
    (request) => answer(request, options.topic, board, listeners),
  );
  // With [kafkacrypto]: the heartbeats are encrypted (as OpenMSIStream's);
  // this node asks their senders for the keys.
  const crypto = await TransferCrypto.open(
    settings,
    createKafka(settings),
    options.topic,
  );
  const stopReading = await followHeartbeats(
    settings,
    options.topic,
    (beat) => {
      board.add(beat);
      pushView();
    },
    crypto,
  );
  const timer = setInterval(pushView, PUSH_SECONDS * 1000);
  log.info(
    `Showing heartbeats of topic ${options.topic} from ${
      describeSettings(heartbeatSettings(settings))
    } on http://${options.host}:${options.port}/ (Ctrl-C stops).`,
  );
  await untilStopped(shutdown.signal);
  clearInterval(timer);
  listeners.close();
  await server.shutdown();
  await stopReading();
  await crypto?.close();
  shutdown.dispose();
  log.info("Stopped.");
}

if (import.meta.main) {
  await runMain(PROGRAM, () => showStatus(readCommandLine()));
}

// A run prints:
//
//   [status at 2026-12-03 09:00:00] Showing heartbeats of topic heartbeats from 127.0.0.1:9092 from config/local.config on http://127.0.0.1:8080/ (Ctrl-C stops).
