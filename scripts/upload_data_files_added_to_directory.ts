/**
 * # Watch a folder and upload every file added to it
 *
 * ```sh
 * deno task kafka start                          # a local broker, once
 * deno task upload_data_files_added_to_directory data/incoming
 * deno task upload_data_files_added_to_directory --new_files_only --settle_seconds 10 /mnt/scope
 * ```
 *
 * Permissions: `--allow-read` (the watched folder is yours to choose, and the
 * config), `--allow-write=out` (only the record of what was uploaded, in
 * out/.upload_records, and the `--catalog[=DB]` of the files sent, see
 * metadata_uploader; the watched folder is never written), `--allow-net`
 * (the brokers in the config), `--allow-env` (`$VARIABLES` in the config),
 * `--allow-run=stat` (modification times to the microsecond),
 * `--allow-sys=hostname` (the host named in heartbeats and in the catalog's
 * history).
 *
 * On an instrument PC files appear in a folder all day. This tool runs for
 * weeks and sends each file to Kafka, chunk by chunk, as upload_data_file
 * does. It waits for the operating system to report changes (no busy loop),
 * takes a file only when it has stopped changing for `--settle_seconds`, and
 * sends it again when it is modified later. A SQLite record of every chunk
 * Kafka acknowledged lets it pick up after a crash or `kill -9`: finished
 * files are not sent again, unfinished ones are completed. Between files it
 * keeps no connection to Kafka open, so an idle watcher costs no CPU.
 *
 * While it runs, type `check` (or `c`) to see what it is doing and `quit` (or
 * `q`) to stop; Ctrl-C and SIGTERM stop it too. Files being uploaded are
 * finished first.
 *
 * Try: copy a big file into the folder and type `check` while it uploads;
 * `kill -9` it mid-file and start it again; run `deno task
 * reconstruct_data_files out/rebuilt` in a second terminal.
 *
 * @module
 */
import { runMain, UsageError } from "../lib/common/cli.ts";
import {
  listenForCheckAndQuit,
  startHeartbeat,
} from "../lib/common/console_commands.ts";
import {
  FolderWatcher,
  requireFolder,
  vanishedLine,
  watchFlags,
} from "../lib/transfer/folder_watcher.ts";
import { UPDATE_SECONDS_FLAG } from "../lib/kafka/kafka_flags.ts";
import { Logger, type LogLevel } from "../lib/common/log.ts";
import { ProgressBoard } from "../lib/common/progress.ts";
import {
  listenForShutdown,
  type ShutdownSignal,
  unlessStopped,
  untilStopped,
} from "../lib/common/shutdown.ts";
import { recordFileFor, UploadRecord } from "../lib/transfer/upload_record.ts";
import { subdirOf } from "../lib/transfer/upload.ts";
import { openUploadTopic } from "../lib/transfer/upload_topic.ts";
import { TransferCatalog } from "../lib/catalog/transfer_catalog.ts";
import {
  checkUploadFlags,
  parseUploadFlags,
} from "../lib/catalog/upload_flags.ts";
import {
  describeStatus,
  logUploadSummary,
  UploadScheduler,
} from "../lib/transfer/upload_scheduler.ts";
import {
  checkHeartbeatFlags,
  HEARTBEAT_FLAGS,
  HeartbeatSender,
} from "../lib/kafka/heartbeats.ts";

const PROGRAM = "upload_data_files_added_to_directory";
/** Chunks that may wait in memory: the 2021 default of --queue_max_size. */
const DEFAULT_QUEUE_MAX_SIZE = 3000;
/** TODO: a file is taken once unchanged this long; raise it for slow writers. */
const DEFAULT_SETTLE_SECONDS = 3;
/** Seconds between two walks of the folder with --use_polling. */
const POLL_SECONDS = 5;
/** Seconds without uploads before the producers disconnect (idle costs nothing then). */
const PRODUCER_IDLE_SECONDS = 30;
/** Where the record of acknowledged chunks lives, one file per watched folder. */
const RECORD_FOLDER = "out/.upload_records";

const log = new Logger({
  style: "bracket",
  program: PROGRAM,
  console: "stdout",
});

/** Reads the command line; the flags shared with upload_data_file are in lib/catalog/upload_flags.ts. */
function readCommandLine() {
  const { flags, positionals, tags } = parseUploadFlags(Deno.args, {
    program: PROGRAM,
    summary:
      "Watch a folder and upload every file added to it to a Kafka topic.",
    positionals: "DIRECTORY",
    threads: "parallel producers (and files at once)",
    own: {
      queue_max_size: {
        type: "number",
        default: DEFAULT_QUEUE_MAX_SIZE,
        integer: true,
        min: 1,
        description: "chunks waiting in memory at most",
      },
      update_seconds: UPDATE_SECONDS_FLAG,
      ...watchFlags(DEFAULT_SETTLE_SECONDS),
    },
    after: HEARTBEAT_FLAGS,
  });
  if (positionals.length !== 1) {
    throw new UsageError("name exactly one DIRECTORY");
  }
  checkUploadFlags(flags, positionals, "DIRECTORY");
  checkHeartbeatFlags(flags);
  return { ...flags, directory: positionals[0], tags };
}

/** Watches and uploads until quit, Ctrl-C or SIGTERM. */
async function watchAndUpload(
  options: ReturnType<typeof readCommandLine>,
  shutdown: ShutdownSignal,
): Promise<void> {
  const startedAt = new Date();
  await requireFolder(options.directory);
  const record = await UploadRecord.open(
    await recordFileFor(options.directory, RECORD_FOLDER),
  );
  // A Ctrl-C while Kafka is slow to answer ends the run at once.
  const { connect, where, settings, close, crypto } = await unlessStopped(
    openUploadTopic(options, log),
    shutdown,
    "while connecting to Kafka; nothing was sent",
  );

  // Log lines go above the progress bars on a terminal, plain otherwise.
  const board = new ProgressBoard({ print: (line) => log.info(line) });
  const say = (level: LogLevel, message: string) =>
    board.log(level === "INFO" ? message : `${level}: ${message}`);
  const catalog = await TransferCatalog.open(
    options.catalog,
    (line) => say("WARNING", line),
    options.tags,
  );
  const scheduler = new UploadScheduler(record, {
    connect,
    idleSeconds: PRODUCER_IDLE_SECONDS,
    root: options.directory,
    chunkSize: options.chunk_size,
    filesAtOnce: options.n_threads,
    board,
    say,
    uploaded: catalog &&
      ((file, totalChunks, positions) =>
        catalog.fileSent(file.path, subdirOf(options.directory, file.path), {
          topic: options.topic_name,
          nChunks: totalChunks,
          chunkSize: options.chunk_size,
          positions,
        })),
  });

  // With --heartbeat_topic_name / --log_topic_name: seen from afar (status).
  const heartbeats = HeartbeatSender.start({
    program: PROGRAM,
    flags: options,
    settings,
    log,
    counts: () => scheduler.heartbeatCounts(),
    warn: (line) => say("WARNING", line),
    sealer: crypto, // with [kafkacrypto]: encrypted, as OpenMSIStream's
  });

  // Files already there are taken too, unless --new_files_only; a file an
  // earlier run did not finish is always taken.
  const watcher = await FolderWatcher.start(options.directory, {
    settleSeconds: options.settle_seconds,
    usePolling: options.use_polling,
    pollSeconds: POLL_SECONDS,
    includeAll: options.include_all,
    takeExisting: (path) =>
      !options.new_files_only || record.hasUnfinished(path),
    settled: (file) => scheduler.add(file),
    vanished: (path) => say("WARNING", vanishedLine(path)),
  });
  say(
    "INFO",
    `Watching ${options.directory} for files to upload to topic ${options.topic_name} on ${where}. Type "check" or "quit".`,
  );

  const commands = listenForCheckAndQuit(
    {
      check: () =>
        describeStatus(scheduler.status(), watcher.settling).forEach((line) =>
          say("INFO", line)
        ),
      quit: () => shutdown.stop("quit"),
    },
    (line) => say("WARNING", line),
  );
  const stopHeartbeat = startHeartbeat(
    options.update_seconds,
    () => log.print("."),
  );
  await untilStopped(shutdown.signal);

  // Stop taking files, finish those in progress, then say what was uploaded.
  // A second Ctrl-C stops at once: the record lets the next start continue.
  shutdown.dispose();
  watcher.close();
  commands.close();
  stopHeartbeat();
  say(
    "INFO",
    `Stopping: finishing ${scheduler.status().inProgress} file(s) in progress...`,
  );
  const left = await scheduler.finish();
  board.stop();
  await catalog?.close();
  logUploadSummary(log, record, startedAt, left, shutdown.reason ?? "quit");
  await heartbeats.stop(); // a last heartbeat, and the summary as a log message
  await close(); // with [kafkacrypto]: no more key requests answered
  record.close();
}

if (import.meta.main) {
  await runMain(PROGRAM, () => {
    // Ctrl-C is handled from the first moment, before anything is awaited.
    const shutdown = listenForShutdown();
    return watchAndUpload(readCommandLine(), shutdown);
  });
}

// A run that sees one file arrive, then `check` and `quit`, prints:
//
//   [upload_data_files_added_to_directory at 2026-11-22 09:00:00] Watching data/incoming for files to upload to topic lecroy_files on 127.0.0.1:9092 from config/local.config. Type "check" or "quit".
//   [upload_data_files_added_to_directory at 2026-11-22 09:00:15] Uploaded day1/scope.bin (1221 chunks, 20000000 bytes)
//   check
//   [upload_data_files_added_to_directory at 2026-11-22 09:00:20] 0 waiting (0 still being written), 0 in progress, 1 done, 0 skipped (uploaded before), 0 with problems
//   [upload_data_files_added_to_directory at 2026-11-22 09:00:20]   done: day1/scope.bin (1221/1221 chunks)
//   quit
//   [upload_data_files_added_to_directory at 2026-11-22 09:00:25] Stopping: finishing 0 file(s) in progress...
//   [upload_data_files_added_to_directory at 2026-11-22 09:00:25] Stopped (quit). Between 2026-11-22 09:00:00 and 2026-11-22 09:00:25 these files were uploaded:
//   [upload_data_files_added_to_directory at 2026-11-22 09:00:25]   day1/scope.bin (started 2026-11-22 09:00:13, finished 2026-11-22 09:00:15)
