/**
 * # Rebuild files from the chunks on a Kafka topic
 *
 * ```sh
 * deno task reconstruct_data_files out/rebuilt
 * deno task reconstruct_data_files --consumer_group_ID lab-pc-1 out/rebuilt
 * ```
 *
 * Permissions: `--allow-read` and `--allow-write` (WORKINGDIR is yours to
 * choose, so it cannot be named in deno.json; the script itself refuses any
 * path outside it), `--allow-net` (the brokers in the config), `--allow-env`
 * (`$VARIABLES` in the config, kafkajs' settings), `--allow-sys=hostname`
 * (catalog rows name the host that rebuilt each file).
 *
 * With `--catalog[=DB]` each rebuilt file also gets its row in the lab
 * catalog (see metadata_uploader), with source 'kafka'.
 *
 * `--n_threads` consumers in one consumer group read the chunk messages that
 * upload_data_file sent (see lib/transfer/chunk.ts). Each chunk is checked against its
 * SHA-512 and written at its offset; when a file has all its chunks, its
 * whole SHA-512 is checked and only then is it moved into WORKINGDIR. Chunks
 * may come in any order, twice, or mixed with junk: junk is logged and
 * skipped. Stopped or killed, it continues where it was when restarted with
 * the same `--consumer_group_ID`.
 *
 * Several reconstructors with one `--consumer_group_ID` (on one machine or
 * many, each with its own WORKINGDIR) share the topic file by file: the
 * uploaders put all chunks of a file on one partition, and a partition's
 * offset is committed only up to the first chunk of its oldest unfinished
 * file. A member that dies leaves its unfinished files to the next owner of
 * their partitions, which reads them again from their first chunk.
 *
 * While it runs, type `check` (or `c`) for progress and `quit` (or `q`) to
 * stop; Ctrl-C stops it too.
 *
 * Try: start it, upload a file in another terminal, type `check`; kill it
 * with `kill -9` in the middle of a big file and start it again; start a
 * second one with the same `--consumer_group_ID` and another WORKINGDIR and
 * watch `check` show the partitions move.
 *
 * @module
 */
import { decodeChunk, InvalidChunkError } from "../lib/transfer/chunk.ts";
import {
  describeError,
  runMain,
  UsageError,
  UserError,
} from "../lib/common/cli.ts";
import {
  listenForCommands,
  startHeartbeat,
} from "../lib/common/console_commands.ts";
import {
  ConsumerGroup,
  REBALANCE_TIMEOUT_MS,
} from "../lib/kafka/consumer_group.ts";
import { outageReporter } from "../lib/kafka/consumer_crashes.ts";
import type { MessagePosition } from "../lib/kafka/consumer_loop.ts";
import {
  type ChunkOutcome,
  DEFAULT_MAX_FILE_SIZE,
  FileAssembler,
} from "../lib/transfer/file_assembler.ts";
import { parseFlags } from "../lib/common/flags.ts";
import {
  checkTopicName,
  CONFIG_FLAG,
  threadsFlag,
  TOPIC_FLAG,
  UPDATE_SECONDS_FLAG,
} from "../lib/kafka/kafka_flags.ts";
import { openTopic } from "../lib/kafka/client.ts";
import { describeSettings } from "../lib/kafka/config.ts";
import { logFileTimes, Logger } from "../lib/common/log.ts";
import { UnsafePathError } from "../lib/transfer/safe_paths.ts";
import {
  GroupMember,
  shareLine,
  spreadWarning,
} from "../lib/transfer/group_member.ts";
import { listenForShutdown, untilStopped } from "../lib/common/shutdown.ts";
import {
  CATALOG_FLAG,
  TransferCatalog,
  withCatalogValue,
} from "../lib/catalog/transfer_catalog.ts";

/** A join slower than this gets a line saying why it waits. */
const JOIN_NOTICE_MS = 3000;
/** How often to look for files spread over other members' partitions. */
const SPREAD_CHECK_MS = 2000;

const log = new Logger({
  style: "bracket",
  program: "reconstruct_data_files",
  console: "stdout",
});

/** Counts for `check` and the summary. */
const progress = {
  messagesRead: 0,
  skipped: 0,
  reconstructed: [] as { path: string; startedAt: Date; finishedAt: Date }[],
};

/** Reads the command line. */
function readCommandLine() {
  const { flags, positionals } = parseFlags(withCatalogValue(Deno.args), {
    program: "reconstruct_data_files",
    summary:
      "Rebuild files from the chunk messages on a Kafka topic into WORKINGDIR.",
    positionals: "WORKINGDIR",
    flags: {
      config: CONFIG_FLAG,
      topic_name: TOPIC_FLAG,
      n_threads: threadsFlag("consumers in the group"),
      update_seconds: UPDATE_SECONDS_FLAG,
      consumer_group_ID: {
        type: "string",
        description:
          "consumer group; default a fresh one that reads the whole topic",
      },
      catalog: CATALOG_FLAG,
      max_file_size: {
        type: "number",
        default: DEFAULT_MAX_FILE_SIZE,
        integer: true,
        min: 1,
        description:
          "refuse files announced larger than this many bytes (never more than the free space)",
      },
    },
  });
  if (positionals.length !== 1) {
    throw new UsageError("name exactly one WORKINGDIR");
  }
  checkTopicName(flags.topic_name);
  return { ...flags, workingDir: positionals[0] };
}

/** Logs a file that was completed, or kept aside. */
function reportOutcome(outcome: ChunkOutcome): void {
  if (outcome.kind === "reconstructed") {
    log.info(
      `File ${outcome.relativePath} successfully reconstructed locally from stream`,
    );
    progress.reconstructed.push({ path: outcome.relativePath, ...outcome });
  } else if (outcome.kind === "rejected") {
    log.error(
      `File ${outcome.relativePath} not moved into place: ${outcome.reason}; kept at ${outcome.keptAt}`,
    );
  }
}

/**
 * Decodes, checks and writes one message; junk is logged and skipped.
 * Resolves to true when a file ended, so its commit goes out at once.
 */
async function handleMessage(
  member: GroupMember,
  value: Uint8Array | null,
  where: MessagePosition,
  rebuilt?: (relativePath: string) => Promise<void>,
): Promise<boolean> {
  progress.messagesRead++;
  const at = `${where.topic}/${where.partition}/${where.offset}`;
  try {
    const { outcome, commitNow } = await member.accept(
      decodeChunk(value),
      where,
    );
    if (outcome) reportOutcome(outcome);
    if (outcome?.kind === "reconstructed") {
      await rebuilt?.(outcome.relativePath);
    }
    return commitNow;
  } catch (error) {
    if (error instanceof UnsafePathError) {
      progress.skipped++;
      log.warn(
        `SECURITY: message at ${at} names an unsafe path (${error.message}); skipped`,
      );
    } else if (error instanceof InvalidChunkError) {
      progress.skipped++;
      log.warn(
        `message at ${at} is not a valid file chunk (${error.message}); skipped`,
      );
    } else {
      throw error;
    }
  }
  return false;
}

/** This member's share of the group: partitions, files in progress, lag. */
async function groupLine(
  group: ConsumerGroup,
  assembler: FileAssembler,
): Promise<string> {
  return shareLine(await group.status(), assembler.inProgress().length);
}

/** What `check` prints. */
async function printCheck(
  group: ConsumerGroup,
  assembler: FileAssembler,
): Promise<void> {
  log.info(
    `${progress.messagesRead} messages read, ${progress.reconstructed.length} files completely reconstructed so far`,
  );
  log.info(await groupLine(group, assembler));
  for (const file of assembler.inProgress()) {
    log.info(
      `  in progress: ${file.relativePath} (${file.chunksOnDisk}/${file.totalChunks} chunks)`,
    );
  }
}

/** Names, once each, files no member of a shared group can complete. */
function warnSpreadFiles(member: GroupMember, topic: string): void {
  for (const file of member.spreadFiles()) log.warn(spreadWarning(file, topic));
}

/** The summary printed when the tool stops. */
function printSummary(startedAt: Date): void {
  log.info(
    `Stopped. ${progress.messagesRead} messages read, ${progress.skipped} skipped.`,
  );
  logFileTimes(log, "reconstructed", startedAt, progress.reconstructed);
}

/** Runs until quit, Ctrl-C or SIGTERM. */
async function reconstruct(
  options: ReturnType<typeof readCommandLine>,
): Promise<void> {
  const startedAt = new Date();
  const { kafka, settings, partitions } = await openTopic(
    options.config,
    options.topic_name,
    log,
  );
  const groupId = options.consumer_group_ID ?? settings.consumer.groupId ??
    `reconstruct_data_files-${crypto.randomUUID()}`;
  const assembler = await FileAssembler.open(options.workingDir, {
    maxFileSize: options.max_file_size,
  });
  if (assembler.strayPartialsRemoved > 0) {
    log.info(
      `Removed ${assembler.strayPartialsRemoved} partial file(s) an earlier run left behind`,
    );
  }
  // A run killed while finishing a file left it complete but not in place.
  (await assembler.finishInterrupted()).forEach(reportOutcome);
  // Rows a crash kept out of the catalog are written now.
  const catalog = await TransferCatalog.open(
    options.catalog,
    (line) => log.warn(line),
  );
  // Which member of a group rebuilt a file: this host (and this run's pid).
  const host = Deno.hostname();
  await catalog?.repairRebuilt(options.workingDir, options.topic_name, host);
  const rebuilt = catalog &&
    ((path: string) =>
      catalog.fileRebuilt(
        options.workingDir,
        path,
        options.topic_name,
        `${host} (pid ${Deno.pid})`,
      ));
  const member = new GroupMember(assembler, partitions);
  // A consumer without a partition would only idle (and kafkajs trips over
  // the empty assignment Kafka 4 sends it), so start no more than needed.
  const consumers = Math.min(options.n_threads, partitions);
  if (consumers < options.n_threads) {
    log.warn(
      `topic ${options.topic_name} has ${partitions} partition(s); starting ${consumers} consumer(s), not ${options.n_threads}`,
    );
  }

  const shutdown = listenForShutdown();
  let fatal: Error | undefined;
  const joinNotice = setTimeout(
    () =>
      log.info(
        `Waiting to join group ${groupId}: Kafka first drops the consumers of a run that was killed (up to ${
          REBALANCE_TIMEOUT_MS / 1000
        } s)`,
      ),
    JOIN_NOTICE_MS,
  );
  const group = await ConsumerGroup.start(kafka, settings, {
    topic: options.topic_name,
    groupId,
    consumers,
    handle: (value, where) => handleMessage(member, value, where, rebuilt),
    commitPoint: (partition, next) => member.commitPoint(partition, next),
    assigned: async (owned, committed) => {
      const change = await member.assigned(owned, committed);
      for (const file of change.lost) {
        log.info(
          `Left ${file.relativePath} to the new owner of its partition (partial copy removed)`,
        );
      }
    },
    fatal: (error) => {
      fatal ??= error;
      shutdown.stop("error");
    },
    ...outageReporter(log),
  }).finally(() => clearTimeout(joinNotice));
  log.info(
    `Reading topic ${options.topic_name} (group ${groupId}) from ${
      describeSettings(settings)
    } into ${options.workingDir}. Type "check" or "quit".`,
  );
  const commands = listenForCommands(
    {
      check: () => void printCheck(group, assembler),
      quit: () => shutdown.stop("quit"),
    },
    (line) => log.warn(`unknown command "${line}": type check (c) or quit (q)`),
  );
  const stopHeartbeat = startHeartbeat(
    options.update_seconds,
    () =>
      void groupLine(group, assembler).then((line) => log.info(`. ${line}`)),
  );
  const spreadCheck = setInterval(
    () => warnSpreadFiles(member, options.topic_name),
    SPREAD_CHECK_MS,
  );
  await untilStopped(shutdown.signal);
  stopHeartbeat();
  clearInterval(spreadCheck);
  member.close();
  commands.close();
  await group.stop();
  assembler.close();
  await catalog?.close();
  shutdown.dispose();
  printSummary(startedAt);
  if (fatal) {
    throw new UserError(`stopped after an error: ${describeError(fatal)}`);
  }
}

if (import.meta.main) {
  await runMain("reconstruct_data_files", () => reconstruct(readCommandLine()));
}

// A run that receives one file, then `quit`, prints:
//
//   [reconstruct_data_files at 2026-11-22 00:40:00] Reading topic lecroy_files (group reconstruct_data_files-5f1c...) from 127.0.0.1:9092 from config/local.config into out/rebuilt. Type "check" or "quit".
//   [reconstruct_data_files at 2026-11-22 00:40:07] File big.bin successfully reconstructed locally from stream
//   quit
//   [reconstruct_data_files at 2026-11-22 00:40:12] Stopped. 4096 messages read, 0 skipped; between 2026-11-22 00:40:00 and 2026-11-22 00:40:12 these files were reconstructed:
//   [reconstruct_data_files at 2026-11-22 00:40:12]   big.bin (started 2026-11-22 00:40:05, finished 2026-11-22 00:40:07)
