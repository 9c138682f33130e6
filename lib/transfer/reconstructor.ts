/**
 * The reconstructor's plumbing around its lesson: its own flags, the checks of
 * WORKINGDIR at startup, and what it prints (`check`, the periodic status
 * line, the summary). reconstruct_data_files keeps the lesson itself.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 * import { ReconstructReport } from "./reconstructor.ts";
 *
 * const log = new Logger({ style: "bracket", program: "demo", console: "stdout" });
 * const report = new ReconstructReport(log);
 * report.messagesRead++;
 * report.printSummary(new Date());
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { UserError } from "../common/cli.ts";
import { FolderLock } from "../common/folder_lock.ts";
import { logFileTimes, type Logger } from "../common/log.ts";
import { printableName } from "../common/printable.ts";
import type { KafkaClient } from "../kafka/client.ts";
import {
  type ConsumerGroup,
  groupMemberCount,
  REBALANCE_TIMEOUT_MS,
} from "../kafka/consumer_group.ts";
import {
  type ChunkOutcome,
  DEFAULT_MAX_FILE_SIZE,
  FileAssembler,
} from "./file_assembler.ts";
import { shareLine } from "./group_member.ts";
import { STATE_FOLDER } from "./safe_paths.ts";

/** Characters of a kept file's path printed at most (its folder is long). */
const PRINTED_PATH_MAX = 400;
/** A join slower than this gets a line saying why it waits. */
const JOIN_NOTICE_MS = 3000;

/** The reconstructor's flags beyond the ones the Kafka tools share. */
export const RECONSTRUCT_FLAGS = {
  /** The consumer group; without it, a fresh group reads the whole topic. */
  consumer_group_ID: {
    type: "string",
    description:
      "consumer group; default a fresh one that reads the whole topic",
  },
  /** The largest file announced that is accepted. */
  max_file_size: {
    type: "number",
    default: DEFAULT_MAX_FILE_SIZE,
    integer: true,
    min: 1,
    description:
      "refuse files announced larger than this many bytes (never more than the free space)",
  },
} as const;

/** Says which chunks were found damaged (the first ten named) and what now. */
function damagedChunks(chunks: number[]): string {
  if (chunks.length === 1) {
    return `chunk ${
      chunks[0]
    } does not match its own; waiting for another copy of it`;
  }
  const named = chunks.length > 10
    ? `${chunks.slice(0, 10).join(", ")} ... (${chunks.length} in all)`
    : `${chunks.slice(0, -1).join(", ")} and ${chunks.at(-1)}`;
  return `chunks ${named} do not match theirs; waiting for another copy of them`;
}

/** One file rebuilt, for the summary. */
export interface RebuiltFile {
  /** Its path inside WORKINGDIR. */
  path: string;
  /** When its first chunk arrived. */
  startedAt: Date;
  /** When it was moved into place. */
  finishedAt: Date;
}

/**
 * Counts for `check` and the summary, and the lines that report them.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 * import { ReconstructReport } from "./reconstructor.ts";
 *
 * const report = new ReconstructReport(new Logger({ style: "bracket", program: "demo", console: "stdout" }));
 * report.skipped++;
 * report.printSummary(new Date());
 * ```
 */
export class ReconstructReport {
  /** Messages read so far, junk included. */
  messagesRead = 0;
  /** Bytes of the messages read so far (for heartbeats). */
  bytesRead = 0;
  /** Messages skipped as junk or unsafe. */
  skipped = 0;
  /** Bytes of the messages skipped as junk or unsafe. */
  bytesSkipped = 0;
  /** Files rebuilt so far. */
  readonly reconstructed: RebuiltFile[] = [];
  readonly #log: Logger;

  /** A report that writes to `log`. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /** Logs a file that was completed, or kept aside. */
  reportOutcome(outcome: ChunkOutcome): void {
    const name = printableName(outcome.relativePath);
    if (outcome.kind === "reconstructed") {
      this.#log.info(
        `File ${name} successfully reconstructed locally from stream`,
      );
      this.reconstructed.push({ ...outcome, path: name });
    } else if (outcome.kind === "repaired") {
      this.#log.warn(
        `Chunk ${outcome.chunkIndex} of ${name} on disk did not match its SHA-512; replaced by a copy that does`,
      );
    } else if (outcome.kind === "damaged") {
      this.#log.warn(
        `File ${name} does not match its SHA-512: ${
          damagedChunks(outcome.chunks)
        }`,
      );
    } else if (outcome.kind === "refused") {
      this.skipped++; // Its file was named once, at its first chunk.
    } else if (outcome.kind === "rejected") {
      const kept = outcome.keptAt
        ? `; kept at ${printableName(outcome.keptAt, PRINTED_PATH_MAX)}`
        : "";
      this.#log.error(
        `File ${name} not moved into place: ${outcome.reason}${kept}`,
      );
    }
  }

  /** This member's share of the group: partitions, files in progress, lag. */
  async groupLine(
    group: Pick<ConsumerGroup, "status">,
    assembler: FileAssembler,
  ): Promise<string> {
    return shareLine(await group.status(), assembler.inProgress().length);
  }

  /** What `check` prints. */
  async printCheck(
    group: Pick<ConsumerGroup, "status">,
    assembler: FileAssembler,
  ): Promise<void> {
    this.#log.info(
      `${this.messagesRead} messages read, ${this.reconstructed.length} files completely reconstructed so far`,
    );
    this.#log.info(await this.groupLine(group, assembler));
    for (const file of assembler.inProgress()) {
      this.#log.info(
        `  in progress: ${
          printableName(file.relativePath)
        } (${file.chunksOnDisk}/${file.totalChunks} chunks)`,
      );
    }
  }

  /** The periodic status line. */
  printStatus(
    group: Pick<ConsumerGroup, "status">,
    assembler: FileAssembler,
  ): void {
    void this.groupLine(group, assembler).then((line) =>
      this.#log.info(`. ${line}`)
    );
  }

  /** Logs the files left to the new owner of their partitions. */
  reportLost(lost: readonly { relativePath: string }[]): void {
    for (const file of lost) {
      this.#log.info(
        `Left ${
          printableName(file.relativePath)
        } to the new owner of its partition (partial copy removed)`,
      );
    }
  }

  /** The summary printed when the tool stops. */
  printSummary(startedAt: Date): void {
    this.#log.info(
      `Stopped. ${this.messagesRead} messages read, ${this.skipped} skipped.`,
    );
    logFileTimes(this.#log, "reconstructed", startedAt, this.reconstructed);
  }
}

/** Who takes which claim on an output folder ({@linkcode claimOutputDir}). */
export type OutputDirUser = "rebuild" | "reproduce";

/**
 * Claims the output folder whose `ENCRYPTED_MESSAGES/` a tool keeps or
 * empties: reconstruct_data_files and process_data_files ("rebuild") may
 * share one, reproduce_undecryptable_messages ("reproduce") needs it alone
 * (it decrypts kept messages into the same assembler state). Taken first
 * thing, before Kafka is asked or the folder touched (only the state
 * folder and its lock file are made); the other kind running there is one
 * line (a `UserError`), as is a `label` (the argument's name) that is a
 * file. The lock is `DIR/.reconstruct_data_files/in_use.lock`
 * and dies with the process (folder_lock.ts).
 *
 * @example
 * ```ts
 * import { claimOutputDir } from "./reconstructor.ts";
 *
 * const lock = await claimOutputDir("out/rebuilt", "reproduce");
 * lock.release();
 * ```
 */
export async function claimOutputDir(
  dir: string,
  user: OutputDirUser,
  label = "WORKINGDIR",
): Promise<FolderLock> {
  const info = await Deno.stat(dir).catch(() => undefined);
  if (info && !info.isDirectory) {
    throw new UserError(`${label} ${dir} is a file, not a folder`);
  }
  const stateDir = join(dir, STATE_FOLDER);
  await Deno.mkdir(stateDir, { recursive: true });
  const refused = user === "reproduce"
    ? `${dir} is in use by a running reconstruct_data_files or process_data_files; stop it, then run this again (nothing was changed)`
    : `${dir} is in use by reproduce_undecryptable_messages; start this once it has finished (nothing was read)`;
  return FolderLock.take(
    join(stateDir, "in_use.lock"),
    user === "reproduce" ? "exclusive" : "shared",
    refused,
  );
}

/**
 * Opens WORKINGDIR's assembler and tidies what an earlier run left: stray
 * partial files removed, files complete but not yet in place finished.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 * import { openWorkingDir, ReconstructReport } from "./reconstructor.ts";
 *
 * const log = new Logger({ style: "bracket", program: "demo", console: "stdout" });
 * const assembler = await openWorkingDir("out/rebuilt", 1 << 30, log, new ReconstructReport(log));
 * assembler.close();
 * ```
 */
export async function openWorkingDir(
  workingDir: string,
  maxFileSize: number,
  log: Logger,
  report: ReconstructReport,
): Promise<FileAssembler> {
  const assembler = await FileAssembler.open(workingDir, { maxFileSize });
  if (assembler.strayPartialsRemoved > 0) {
    log.info(
      `Removed ${assembler.strayPartialsRemoved} partial file(s) an earlier run left behind`,
    );
  }
  // A run killed while finishing a file left it complete but not in place.
  (await assembler.finishInterrupted()).forEach((outcome) =>
    report.reportOutcome(outcome)
  );
  return assembler;
}

/**
 * Says, if joining the group takes long, why it waits: for a group that
 * lists consumers of another run (one killed, say) Kafka drops those first;
 * a new group has none. Returns the function that cancels the notice once
 * joined.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 * import type { KafkaClient } from "../kafka/client.ts";
 * import { joinNotice } from "./reconstructor.ts";
 * declare const kafka: KafkaClient;
 *
 * const log = new Logger({ style: "bracket", program: "demo", console: "stdout" });
 * const cancel = await joinNotice(log, kafka, "group-1");
 * cancel();
 * ```
 */
export async function joinNotice(
  log: Logger,
  kafka: KafkaClient,
  groupId: string,
): Promise<() => void> {
  const others = await groupMemberCount(kafka, groupId);
  const why = others > 0
    ? `it still lists ${others} consumer(s) of another run, which Kafka drops first if that run was killed (up to ${
      REBALANCE_TIMEOUT_MS / 1000
    } s)`
    : "Kafka is still handing out its partitions";
  const timer = setTimeout(
    () => log.info(`Waiting to join group ${groupId}: ${why}`),
    JOIN_NOTICE_MS,
  );
  return () => clearTimeout(timer);
}

/**
 * How many consumers to start: no more than the topic has partitions, with a
 * warning when fewer than asked.
 *
 * @example
 * ```ts
 * import { Logger } from "../common/log.ts";
 * import { consumerCount } from "./reconstructor.ts";
 *
 * consumerCount(5, 3, "lecroy_files", new Logger({ style: "bracket", program: "demo", console: "stdout" })); // 3
 * ```
 */
export function consumerCount(
  wanted: number,
  partitions: number,
  topic: string,
  log: Logger,
): number {
  // A consumer without a partition would only idle, so start no more than
  // needed.
  const consumers = Math.min(wanted, partitions);
  if (consumers < wanted) {
    log.warn(
      `topic ${topic} has ${partitions} partition(s); starting ${consumers} consumer(s), not ${wanted}`,
    );
  }
  return consumers;
}
