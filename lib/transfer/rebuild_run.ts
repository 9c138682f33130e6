/**
 * The run around a {@linkcode RebuildGroup} that reconstruct_data_files and
 * process_data_files share: their common flags, the connection and group
 * name, and the join, `check`/`quit`, status dots, heartbeats and stop.
 * What is done with each complete file stays in the script.
 *
 * @example
 * ```ts
 * import {
 *   connectRebuildRun, runRebuildGroup, stoppedByError,
 * } from "./rebuild_run.ts";
 * import { openWorkingDir, ReconstructReport } from "./reconstructor.ts";
 * import { listenForShutdown } from "../common/shutdown.ts";
 * import { Logger } from "../common/log.ts";
 *
 * const log = new Logger({ style: "bracket", program: "demo", console: "stdout" });
 * const report = new ReconstructReport(log);
 * const shutdown = listenForShutdown();
 * const flags = {
 *   config: "config/local.config", topic_name: "lecroy_files",
 *   n_threads: 2, update_seconds: 0, expire_seconds: 600,
 * };
 * const connection = await connectRebuildRun("demo", flags, shutdown, log);
 * const assembler = await openWorkingDir("out/demo", 1 << 30, log, report);
 * const fatal = await runRebuildGroup({
 *   program: "demo", flags, connection, assembler, shutdown, log, report,
 *   hooks: {}, outputDir: "out/demo", startLine: "Reading.",
 *   filesProcessed: () => 0,
 * });
 * assembler.close();
 * if (fatal) throw stoppedByError(fatal, connection.groupId);
 * ```
 *
 * @module
 */
import { describeError, UserError } from "../common/cli.ts";
import {
  listenForCheckAndQuit,
  startHeartbeat,
} from "../common/console_commands.ts";
import type { Logger } from "../common/log.ts";
import {
  type ShutdownSignal,
  unlessStopped,
  untilStopped,
} from "../common/shutdown.ts";
import { type KafkaClient, openTopic } from "../kafka/client.ts";
import type { KafkaSettings } from "../kafka/config.ts";
import {
  checkHeartbeatFlags,
  HEARTBEAT_FLAGS,
  type HeartbeatFlagValues,
  HeartbeatSender,
} from "../kafka/heartbeats.ts";
import {
  checkGroupId,
  checkTopicName,
  CONFIG_FLAG,
  threadsFlag,
  TOPIC_FLAG,
  UPDATE_SECONDS_FLAG,
} from "../kafka/kafka_flags.ts";
import type { FileAssembler } from "./file_assembler.ts";
import { EXPIRE_FLAG } from "./file_expiry.ts";
import {
  type ChunkMessageOptions,
  handleChunkMessage,
  RebuildGroup,
} from "./rebuild_group.ts";
import {
  consumerCount,
  RECONSTRUCT_FLAGS,
  type ReconstructReport,
} from "./reconstructor.ts";
import {
  checkNodeFilesWithSides,
  keepEncryptedMessage,
  KEY_WAIT_FLAG,
  TransferCrypto,
} from "./transfer_crypto.ts";

/**
 * The flags both tools take: the config, topic, group, consumers, status
 * dots, expiry and the heartbeat flags.
 *
 * @example
 * ```ts
 * import { parseFlags } from "../common/flags.ts";
 * const { flags } = parseFlags(["--n_threads", "3"], {
 *   program: "demo", summary: "demo", flags: { ...REBUILD_RUN_FLAGS },
 * });
 * flags.n_threads; // 3
 * ```
 */
export const REBUILD_RUN_FLAGS = {
  config: CONFIG_FLAG,
  topic_name: TOPIC_FLAG,
  consumer_group_ID: RECONSTRUCT_FLAGS.consumer_group_ID,
  n_threads: threadsFlag("consumers in the group"),
  update_seconds: UPDATE_SECONDS_FLAG,
  expire_seconds: EXPIRE_FLAG,
  key_wait_seconds: KEY_WAIT_FLAG,
  ...HEARTBEAT_FLAGS,
} as const;

/** The values of {@linkcode REBUILD_RUN_FLAGS} as parsed. */
export interface RebuildRunFlags extends HeartbeatFlagValues {
  /** `--config`. */
  config: string;
  /** `--topic_name`. */
  topic_name: string;
  /** `--consumer_group_ID`, if given. */
  consumer_group_ID?: string;
  /** `--n_threads`. */
  n_threads: number;
  /** `--update_seconds`. */
  update_seconds: number;
  /** `--expire_seconds`. */
  expire_seconds: number;
  /** `--key_wait_seconds` (with `[kafkacrypto]`; default 60). */
  key_wait_seconds?: number;
}

/**
 * Throws a `UsageError` naming the flag if the topic, a heartbeat topic or
 * the group is not a name Kafka takes.
 *
 * @example
 * ```ts
 * checkRebuildRunFlags({
 *   config: "c", topic_name: "bad name", n_threads: 1, update_seconds: 0,
 *   expire_seconds: 1,
 * }); // UsageError
 * ```
 */
export function checkRebuildRunFlags(flags: RebuildRunFlags): void {
  checkTopicName(flags.topic_name);
  checkHeartbeatFlags(flags);
  checkGroupId(flags.consumer_group_ID);
}

/** The topic opened and the group it is read in. */
export interface RebuildConnection {
  /** The client. */
  kafka: KafkaClient;
  /** The config as read. */
  settings: KafkaSettings;
  /** The topic's partitions. */
  partitions: number;
  /** The group: `--consumer_group_ID`, the config's, or a new one. */
  groupId: string;
  /** Whether the group was named (other members may share it). */
  named: boolean;
  /** The node that decrypts, when the config has `[kafkacrypto]`. */
  crypto?: TransferCrypto;
}

/**
 * Opens the topic (a Ctrl-C while Kafka is slow to answer ends the run at
 * once) and names the group.
 *
 * @example
 * ```ts
 * import { listenForShutdown } from "../common/shutdown.ts";
 * import { Logger } from "../common/log.ts";
 * const log = new Logger({ style: "bracket", program: "demo", console: "stdout" });
 * const flags = {
 *   config: "config/local.config", topic_name: "t", n_threads: 1,
 *   update_seconds: 0, expire_seconds: 60,
 * };
 * const { groupId } = await connectRebuildRun("demo", flags, listenForShutdown(), log);
 * ```
 */
export async function connectRebuildRun(
  program: string,
  flags: RebuildRunFlags,
  shutdown: ShutdownSignal,
  log: Logger,
): Promise<RebuildConnection> {
  const nothingRead = "while connecting to Kafka; nothing was read";
  const { kafka, settings, partitions } = await unlessStopped(
    // Wrong node files are one line before anything connects.
    openTopic(
      flags.config,
      flags.topic_name,
      log,
      (settings) => checkNodeFilesWithSides(settings, flags.topic_name, flags),
    ),
    shutdown,
    nothingRead,
  );
  const named = flags.consumer_group_ID ?? settings.consumer.groupId;
  return {
    kafka,
    settings,
    partitions,
    groupId: named ?? `${program}-${crypto.randomUUID()}`,
    named: named !== undefined,
    crypto: await unlessStopped(
      TransferCrypto.open(settings, kafka, flags.topic_name),
      shutdown,
      nothingRead,
    ),
  };
}

/** What {@linkcode runRebuildGroup} needs. */
export interface RebuildRunOptions {
  /** The tool's name (heartbeats). */
  program: string;
  /** The flags as parsed. */
  flags: RebuildRunFlags;
  /** From {@linkcode connectRebuildRun}. */
  connection: RebuildConnection;
  /** The working folder's assembler. */
  assembler: FileAssembler;
  /** Quit, Ctrl-C, SIGTERM or a fatal error end the run. */
  shutdown: ShutdownSignal;
  /** The tool's logger. */
  log: Logger;
  /** Counts for `check`, the dots and the summary. */
  report: ReconstructReport;
  /**
   * The tool's own part: each chunk's position, each file completed, and
   * where a message that cannot be decrypted is kept (default: under
   * `outputDir`/ENCRYPTED_MESSAGES, see transfer_crypto.ts).
   */
  hooks: Pick<
    ChunkMessageOptions,
    "chunkRead" | "finished" | "undecryptable"
  >;
  /** The output folder (undecryptable messages are kept in it). */
  outputDir: string;
  /** The line said once the group is joined. */
  startLine: string;
  /** The heartbeats' `n_files_processed`. */
  filesProcessed: () => number;
}

/**
 * Joins the group and runs until quit, Ctrl-C, SIGTERM or a fatal error;
 * stops the group (its last commits), the commands and the heartbeats, and
 * resolves to the error that stopped it, if any.
 *
 * @example
 * ```ts
 * import type { RebuildRunOptions } from "./rebuild_run.ts";
 * declare const options: RebuildRunOptions;
 * const fatal = await runRebuildGroup(options);
 * if (fatal) throw stoppedByError(fatal, options.connection.groupId);
 * ```
 */
export async function runRebuildGroup(
  options: RebuildRunOptions,
): Promise<Error | undefined> {
  const { flags, connection, assembler, shutdown, log, report } = options;
  const { settings, partitions } = connection;
  // No more consumers than partitions: one without a partition would idle.
  const consumers = consumerCount(
    flags.n_threads,
    partitions,
    flags.topic_name,
    log,
  );
  let fatal: Error | undefined;
  const decryptor = connection.crypto?.decryptor(
    flags.topic_name,
    log,
    (flags.key_wait_seconds ?? KEY_WAIT_FLAG.default) * 1000,
  );
  if (connection.crypto) {
    log.info(
      `Decrypting end to end as KafkaCrypto node ${connection.crypto.nodeId}`,
    );
  }
  const undecryptable = options.hooks.undecryptable ??
    keepEncryptedMessage(options.outputDir, log);
  // In a named group (members may share the topic), chunks of files spread
  // over partitions go through a repartition topic keyed by file, read by
  // a second group of the same members (rebuild_group.ts).
  const rebuild = await RebuildGroup.join(connection.kafka, settings, {
    topic: flags.topic_name,
    groupId: connection.groupId,
    named: connection.named,
    partitions,
    consumers,
    assembler,
    expireSeconds: flags.expire_seconds,
    shutdown,
    log,
    handle: (member, value, where, forwarder) =>
      handleChunkMessage(member, value, where, {
        report,
        log,
        forwarder,
        ...options.hooks,
        decryptor,
        undecryptable,
      }),
    lost: (files) => report.reportLost(files),
    fatal: (error) => {
      fatal ??= error;
      shutdown.stop(`an error (${describeError(error)})`);
    },
  });
  const status = rebuild.status;
  log.info(options.startLine);
  const commands = listenForCheckAndQuit(
    {
      check: () => void report.printCheck(status, assembler),
      quit: () => shutdown.stop("quit"),
    },
    (line) => log.warn(line),
  );
  const stopDots = startHeartbeat(
    flags.update_seconds,
    () => report.printStatus(status, assembler),
  );
  // With --heartbeat_topic_name / --log_topic_name: seen from afar (status).
  const heartbeats = HeartbeatSender.start({
    program: options.program,
    flags,
    settings,
    log,
    counts: () => ({
      n_messages_read: report.messagesRead,
      n_messages_processed: report.messagesRead - report.skipped,
      n_bytes_read: report.bytesRead,
      n_bytes_processed: report.bytesRead - report.bytesSkipped,
      n_files_processed: options.filesProcessed(),
    }),
    extra: async () => ({ group_lag: (await status.status()).lag }),
    warn: (line) => log.warn(line),
    sealer: connection.crypto, // with [kafkacrypto]: encrypted, as OpenMSIStream's
  });
  await untilStopped(shutdown.signal);
  stopDots();
  commands.close();
  // The last commits are made while stopping: a failure then (a full disk,
  // say) is reported as one before, with how to go on.
  await rebuild.stop().catch((error) => {
    fatal ??= error;
  });
  await heartbeats.stop();
  await connection.crypto?.close();
  return fatal;
}

/**
 * The one line for a run stopped by an error: what it was and how to go on.
 *
 * @example
 * ```ts
 * stoppedByError(new Error("disk full"), "lab-1").message;
 * // "stopped by an error: disk full; to go on, start again with --consumer_group_ID lab-1"
 * ```
 */
export function stoppedByError(error: Error, groupId: string): UserError {
  return new UserError(
    `stopped by an error: ${
      describeError(error)
    }; to go on, start again with --consumer_group_ID ${groupId}`,
  );
}
