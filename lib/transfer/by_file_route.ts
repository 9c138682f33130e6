/**
 * The reconstructor's second consumer group: the members of a named group
 * also read the group's repartition topic (see repartition.ts), where the
 * chunks of files a sender spread over partitions arrive keyed by file, and
 * rebuild those files with the same assembler.
 *
 * {@linkcode ByFileRoute.open} makes the forwarder (only in a named group: a
 * reconstructor alone in a fresh group rebuilds spread files itself) and the
 * {@linkcode GroupMember} of the repartition topic; the source group's
 * handlers ask it where to send a chunk ({@linkcode ByFileRoute.forwarder}),
 * how far they may commit ({@linkcode ByFileRoute.holdBack}) and wait for
 * Kafka's answers before a rebalance ({@linkcode ByFileRoute.settle}).
 *
 * @example
 * ```ts
 * import { ByFileRoute } from "./by_file_route.ts";
 * import type { KafkaClient } from "../kafka/client.ts";
 * import type { KafkaSettings } from "../kafka/config.ts";
 * import type { ConsumerGroup } from "../kafka/consumer_group.ts";
 * import type { FileAssembler } from "./file_assembler.ts";
 * import type { GroupMember } from "./group_member.ts";
 * declare const kafka: KafkaClient, settings: KafkaSettings;
 * declare const assembler: FileAssembler, member: GroupMember, group: ConsumerGroup;
 *
 * const route = await ByFileRoute.open(kafka, settings, {
 *   topic: "lecroy_files", groupId: "lab", named: true, partitions: 6, assembler, member,
 * });
 * await route.start(kafka, settings, {
 *   consumers: 1, handle: async () => false, lost: () => {}, fatal: console.error,
 *   expireSeconds: 600, warn: console.warn,
 * });
 * route.recommitOnAnswers(group);
 * await route.stop();
 * ```
 *
 * @module
 */
import type { KafkaClient } from "../kafka/client.ts";
import type { KafkaSettings } from "../kafka/config.ts";
import { ConsumerGroup } from "../kafka/consumer_group.ts";
import type { MessageHandlers } from "../kafka/consumer_loop.ts";
import type { FileAssembler } from "./file_assembler.ts";
import { startExpiry } from "./file_expiry.ts";
import { GroupMember, type TrackedFile } from "./group_member.ts";
import { ChunkForwarder, recommitSoon, withByFileLag } from "./repartition.ts";

/** What {@linkcode ByFileRoute.open} needs. */
export interface RouteOptions {
  /** The source topic. */
  topic: string;
  /** The source group. */
  groupId: string;
  /** Whether the group was named (other members may share it). */
  named: boolean;
  /** The source topic's partitions (the repartition topic gets as many). */
  partitions: number;
  /** The assembler both members write with. */
  assembler: FileAssembler;
  /** The member of the source topic. */
  member: GroupMember;
}

/** How the repartition group runs. */
export interface RouteGroupOptions {
  /** Consumers, as in the source group. */
  consumers: number;
  /** Handles one message of the repartition topic with `member`. */
  handle: (
    member: GroupMember,
    ...message: Parameters<MessageHandlers["handle"]>
  ) => Promise<boolean>;
  /** Files left to another member after a rebalance. */
  lost: (files: TrackedFile[]) => void;
  /** A consumer failed for good. */
  fatal: (error: Error) => void;
  /** Kafka went away (the consumers reconnect by themselves). */
  outage?: (error: Error) => void;
  /** Called when a consumer joined (also after an outage). */
  joined?: () => void;
  /** As in the source group (see `ConsumerGroupOptions`). */
  joinThroughOutagesUntil?: AbortSignal;
  /** `--expire_seconds`. */
  expireSeconds: number;
  /** Where expiry warnings go. */
  warn: (line: string) => void;
}

/** The repartition topic's side of a reconstructor. */
export class ByFileRoute {
  /** Where spread chunks go; undefined outside a named group. */
  readonly forwarder?: ChunkForwarder;
  /** The member that rebuilds the files of the repartition topic. */
  readonly member: GroupMember;
  #group?: ConsumerGroup;
  #stopExpiry = () => {};

  private constructor(member: GroupMember, forwarder?: ChunkForwarder) {
    this.member = member;
    this.forwarder = forwarder;
  }

  /** Makes the repartition topic and its forwarder, in a named group. */
  static async open(
    kafka: KafkaClient,
    settings: KafkaSettings,
    options: RouteOptions,
  ): Promise<ByFileRoute> {
    const forwarder = options.named
      ? await ChunkForwarder.open(
        kafka,
        settings,
        options.topic,
        options.groupId,
        options.partitions,
      )
      : undefined;
    const byFile = new GroupMember(options.assembler, {
      rememberFinished: true,
    });
    // One assembler: a partial copy open on either side is no orphan.
    options.member.openElsewhere = (key) => byFile.isOpen(key);
    byFile.openElsewhere = (key) => options.member.isOpen(key);
    return new ByFileRoute(byFile, forwarder);
  }

  /** Joins the repartition group (nothing outside a named group). */
  async start(
    kafka: KafkaClient,
    settings: KafkaSettings,
    options: RouteGroupOptions,
  ): Promise<void> {
    const forwarder = this.forwarder;
    if (!forwarder) return;
    const member = this.member;
    this.#group = await ConsumerGroup.start(kafka, settings, {
      topic: forwarder.topic,
      groupId: forwarder.groupId,
      consumers: options.consumers,
      handle: (value, where) => options.handle(member, value, where),
      commitPoint: (partition, next) => member.commitPoint(partition, next),
      assigned: async (owned, committed) =>
        options.lost((await member.assigned(owned, committed)).lost),
      fatal: options.fatal,
      outage: options.outage,
      joined: options.joined,
      joinThroughOutagesUntil: options.joinThroughOutagesUntil,
    });
    this.#stopExpiry = startExpiry(
      member,
      this.#group,
      options.expireSeconds,
      options.warn,
    );
  }

  /** The source commit on `partition`, held before unanswered forwards. */
  holdBack(partition: number, next: string): string {
    return this.forwarder?.holdBack(partition, next) ?? next;
  }

  /** Waits until Kafka answered for every chunk forwarded (before a rebalance). */
  settle = async (): Promise<void> => {
    await this.forwarder?.settle();
  };

  /** Lets `source` commit again as soon as Kafka answers for forwarded chunks. */
  recommitOnAnswers(source: ConsumerGroup): void {
    if (this.forwarder) this.forwarder.answered = recommitSoon(source);
  }

  /** The source group's status with the repartition group's lag added. */
  status(source: ConsumerGroup): Pick<ConsumerGroup, "status"> {
    return withByFileLag(source, this.#group);
  }

  /** Leaves the repartition group and closes the forwarder (after the source group stopped). */
  async stop(): Promise<void> {
    this.#stopExpiry();
    this.member.close();
    await this.#group?.stop();
    await this.forwarder?.close();
  }
}
