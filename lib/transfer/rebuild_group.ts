/**
 * A working folder's assembler joined to a consumer group: what
 * reconstruct_data_files and process_data_files both run.
 *
 * It joins the source topic's group and, in a named group, the repartition
 * group for chunks a sender spread over partitions (by_file_route.ts); it
 * commits a partition only up to its oldest unfinished file, never past a
 * forwarded chunk Kafka has not answered for, and gives up files that never
 * complete (file_expiry.ts). What is done with each message is the caller's
 * `handle`: the lesson stays in the script.
 *
 * @example
 * ```ts
 * import { RebuildGroup } from "./rebuild_group.ts";
 * import type { ChunkOutcome, FileAssembler } from "./file_assembler.ts";
 * import type { KafkaClient } from "../kafka/client.ts";
 * import type { KafkaSettings } from "../kafka/config.ts";
 * import type { ShutdownSignal } from "../common/shutdown.ts";
 * import { Logger } from "../common/log.ts";
 * declare const kafka: KafkaClient, settings: KafkaSettings;
 * declare const assembler: FileAssembler, shutdown: ShutdownSignal;
 *
 * const rebuild = await RebuildGroup.join(kafka, settings, {
 *   topic: "lecroy_files", groupId: "lab-1", named: true, partitions: 5,
 *   consumers: 5, assembler, expireSeconds: 600, shutdown,
 *   log: new Logger({ style: "bracket", program: "demo", console: "stdout" }),
 *   handle: () => Promise.resolve(false),
 *   lost: () => {}, fatal: () => {},
 * });
 * await rebuild.stop();
 * ```
 *
 * @module
 */
import { releaseBuffer } from "../common/buffer_memory.ts";
import type { Logger } from "../common/log.ts";
import { type ShutdownSignal, unlessStopped } from "../common/shutdown.ts";
import type { KafkaClient } from "../kafka/client.ts";
import type { KafkaSettings } from "../kafka/config.ts";
import { ConsumerGroup } from "../kafka/consumer_group.ts";
import { outageReporter } from "../kafka/consumer_crashes.ts";
import type { MessagePosition } from "../kafka/consumer_loop.ts";
import { ByFileRoute } from "./by_file_route.ts";
import type { ChunkOutcome, FileAssembler } from "./file_assembler.ts";
import { startExpiry } from "./file_expiry.ts";
import { GroupMember } from "./group_member.ts";
import { decodeChunk, type FileChunk, InvalidChunkError } from "./chunk.ts";
import { type ChunkForwarder, isWholeFileChunk } from "./repartition.ts";
import { joinNotice, type ReconstructReport } from "./reconstructor.ts";
import { UnsafePathError } from "./safe_paths.ts";
import type { ChunkDecryptor } from "./transfer_crypto.ts";

/** What {@linkcode RebuildGroup.join} needs. */
export interface RebuildGroupOptions {
  /** The topic of chunk messages. */
  topic: string;
  /** The consumer group. */
  groupId: string;
  /** Whether the group was named (other members may share it). */
  named: boolean;
  /** The topic's partitions. */
  partitions: number;
  /** Consumers in this member. */
  consumers: number;
  /** The working folder's assembler. */
  assembler: FileAssembler;
  /** `--expire_seconds`. */
  expireSeconds: number;
  /** Ctrl-C while joining ends the join. */
  shutdown: ShutdownSignal;
  /** Where outages, expiries and the join notice are said. */
  log: Logger;
  /**
   * Handles one message with `member` (`forwarder` set for the source
   * topic in a named group); resolves to true to commit at once.
   */
  handle: (
    member: GroupMember,
    value: Uint8Array | null,
    where: MessagePosition,
    forwarder?: ChunkForwarder,
  ) => Promise<boolean>;
  /** Files left to another member after a rebalance. */
  lost: (files: readonly { relativePath: string }[]) => void;
  /** A consumer failed for good. */
  fatal: (error: Error) => void;
}

/** The source group, the repartition route and the expiry, as one. */
export class RebuildGroup {
  /** The source topic's consumers. */
  readonly group: ConsumerGroup;
  /** The group's status, the repartition group's lag included. */
  readonly status: Pick<ConsumerGroup, "status">;
  readonly #member: GroupMember;
  readonly #route: ByFileRoute;
  readonly #stopExpiry: () => void;

  private constructor(
    group: ConsumerGroup,
    member: GroupMember,
    route: ByFileRoute,
    stopExpiry: () => void,
  ) {
    this.group = group;
    this.#member = member;
    this.#route = route;
    this.#stopExpiry = stopExpiry;
    this.status = route.status(group);
  }

  /** Joins the group (and the repartition group); throws if stopped meanwhile. */
  static async join(
    kafka: KafkaClient,
    settings: KafkaSettings,
    options: RebuildGroupOptions,
  ): Promise<RebuildGroup> {
    const { assembler, shutdown, log } = options;
    const member = new GroupMember(assembler);
    const route = await ByFileRoute.open(kafka, settings, {
      topic: options.topic,
      groupId: options.groupId,
      named: options.named,
      partitions: options.partitions,
      assembler,
      member,
    });
    const joined = await unlessStopped(
      joinNotice(log, kafka, options.groupId),
      shutdown,
      "while joining",
    );
    // Kafka has answered this run (the topic's partitions are known), so a
    // broker lost from here on, even while joining, is an outage to ride
    // out. One warning for both groups.
    const outages = {
      ...outageReporter(log),
      joinThroughOutagesUntil: shutdown.signal,
    };
    const starting = Promise.all([
      ConsumerGroup.start(kafka, settings, {
        topic: options.topic,
        groupId: options.groupId,
        consumers: options.consumers,
        handle: (value, where) =>
          options.handle(member, value, where, route.forwarder),
        // Never past a forwarded chunk Kafka has not acknowledged.
        commitPoint: (partition, next) =>
          member.commitPoint(partition, route.holdBack(partition, next)),
        settle: route.settle,
        assigned: async (owned, committed) =>
          options.lost((await member.assigned(owned, committed)).lost),
        fatal: options.fatal,
        ...outages,
      }),
      route.start(kafka, settings, {
        consumers: options.consumers,
        handle: (byFile, value, where) => options.handle(byFile, value, where),
        lost: options.lost,
        fatal: options.fatal,
        ...outages,
        expireSeconds: options.expireSeconds,
        warn: (line) => log.warn(line),
      }),
    ]).finally(joined);
    // Stopped while joining, what was written is kept, as after a kill.
    const [group] = await unlessStopped(starting, shutdown, "while joining");
    route.recommitOnAnswers(group);
    // Files that never complete are given up, so commits move on.
    const stopExpiry = startExpiry(
      member,
      group,
      options.expireSeconds,
      (line) => log.warn(line),
    );
    return new RebuildGroup(group, member, route, stopExpiry);
  }

  /** Leaves both groups (the source first) and closes the forwarder. */
  async stop(): Promise<void> {
    this.#stopExpiry();
    this.#member.close();
    await this.group.stop();
    await this.#route.stop();
  }
}

/** What {@linkcode handleChunkMessage} reports to and calls. */
export interface ChunkMessageOptions {
  /** Counts messages and skipped ones; logs files completed or kept aside. */
  report: ReconstructReport;
  /** Where junk and unsafe names are warned about. */
  log: Pick<Logger, "warn">;
  /** Set for the source topic of a named group: spread chunks go there. */
  forwarder?: ChunkForwarder;
  /** Called with where each chunk of a file was read (the catalog's history). */
  chunkRead?: (relativePath: string, where: MessagePosition) => void;
  /**
   * Set when the config encrypts (`[kafkacrypto]`): opens each value before
   * it is decoded, with the source topic's keys (also on the repartition
   * topic, which carries the source's ciphertext unchanged).
   */
  decryptor?: ChunkDecryptor;
  /**
   * Called with a message whose value could not be decrypted (its key never
   * came), raw key and value, before its offset may be committed: it must
   * keep the message (lib/transfer/transfer_crypto.ts keepEncryptedMessage
   * by default). Needed with {@linkcode decryptor}.
   */
  undecryptable?: (
    where: MessagePosition,
    key: Uint8Array | null,
    value: Uint8Array,
  ) => Promise<void>;
  /** Awaited when a message completed a file, before its commit. */
  finished?: (
    relativePath: string,
    chunk: FileChunk,
    where: MessagePosition,
  ) => Promise<void>;
}

/**
 * Decodes, checks and writes one chunk message; junk and unsafe names are
 * logged and skipped. Resolves to true when a file ended, so its commit goes
 * out at once.
 *
 * @example
 * ```ts
 * import { handleChunkMessage } from "./rebuild_group.ts";
 * import { ReconstructReport } from "./reconstructor.ts";
 * import type { GroupMember } from "./group_member.ts";
 * import type { MessagePosition } from "../kafka/consumer_loop.ts";
 * import { Logger } from "../common/log.ts";
 * declare const member: GroupMember, value: Uint8Array, where: MessagePosition;
 *
 * const log = new Logger({ style: "bracket", program: "demo", console: "stdout" });
 * await handleChunkMessage(member, value, where, { report: new ReconstructReport(log), log });
 * ```
 */
export async function handleChunkMessage(
  member: GroupMember,
  value: Uint8Array | null,
  where: MessagePosition,
  options: ChunkMessageOptions,
): Promise<boolean> {
  const { report, log, forwarder } = options;
  report.messagesRead++;
  const size = value?.byteLength ?? 0;
  report.bytesRead += size;
  const at = `${where.topic}/${where.partition}/${where.offset}`;
  let plain = value;
  if (options.decryptor && value) {
    const opened = await options.decryptor.open(value);
    if (!opened) {
      // Kept before its commit (or the run stops): never lost.
      if (!options.undecryptable) {
        throw new Error(`message at ${at} could not be decrypted`);
      }
      await options.undecryptable(where, where.key ?? null, value);
      report.skipped++;
      report.bytesSkipped += value.byteLength;
      return false;
    }
    plain = opened;
  }
  try {
    // Its own hash is checked by the assembler where it matters (see there).
    const chunk = decodeChunk(plain, { checkHash: false });
    // Not said to share a partition with its file: off to where its file goes.
    // Its bytes as read: the repartition topic never carries plaintext.
    if (forwarder && !isWholeFileChunk(where.headers)) {
      await forwarder.forward(chunk, value!, where);
      return false;
    }
    const { outcome, commitNow, placed } = await member.accept(chunk, where);
    // Its data is on disk (or was not needed) and only the chunk's copied
    // hashes are read from here on: the buffers go back now, not when V8
    // collects them (at 512 KiB, 60 MB less at the peak: buffer_memory.ts).
    releaseBuffer(value);
    if (plain !== value) releaseBuffer(plain);
    if (placed) {
      // Moved into place after the commit naming it finished: reported then.
      where.afterCommit?.(async () =>
        await reportChunk(await placed, chunk, where, options)
      );
      return false;
    }
    if (outcome) await reportChunk(outcome, chunk, where, options);
    return commitNow;
  } catch (error) {
    // Junk and hostile names are skipped; anything else is a real failure.
    const unsafe = error instanceof UnsafePathError;
    if (!unsafe && !(error instanceof InvalidChunkError)) throw error;
    report.skipped++;
    report.bytesSkipped += size;
    const why = (error as Error).message;
    log.warn(
      unsafe
        ? `SECURITY: message at ${at} names an unsafe path (${why}); skipped`
        : `message at ${at} is not a valid file chunk (${why}); skipped`,
    );
  }
  return false;
}

/** Reports what became of a chunk; a completed file goes to `finished`. */
async function reportChunk(
  outcome: ChunkOutcome,
  chunk: FileChunk,
  where: MessagePosition,
  options: ChunkMessageOptions,
): Promise<void> {
  options.report.reportOutcome(outcome);
  if ("relativePath" in outcome) {
    options.chunkRead?.(outcome.relativePath, where);
  }
  if (outcome.kind === "reconstructed") {
    await options.finished?.(outcome.relativePath, chunk, where);
  }
}
