/**
 * One reconstructor as a member of a consumer group: the file assembler plus
 * the bookkeeping that lets several members share a topic file by file.
 *
 * Every chunk goes through {@linkcode GroupMember.accept}, which writes it
 * (see file_assembler.ts) and notes per partition which files are open (see
 * partition_files.ts), so commits never pass an unfinished file. When the
 * group hands this member a new set of partitions,
 * {@linkcode GroupMember.assigned} drops the partial copies of files whose
 * partitions went to another member: their new owner rebuilds them whole.
 *
 * @example
 * ```ts
 * import { FileAssembler } from "./file_assembler.ts";
 * import { GroupMember } from "./group_member.ts";
 * import type { FileChunk } from "./chunk.ts";
export type { AssignmentChange, FileChunk, PartitionCommit, TrackedFile };
 * declare const chunk: FileChunk;
 *
 * const assembler = await FileAssembler.open("out/rebuilt");
 * const member = new GroupMember(assembler);
 * await member.assigned([0, 1, 2, 3, 4], new Map());
 * const { outcome, commitNow } = await member.accept(chunk, { partition: 0, offset: "0" });
 * ```
 *
 * @module
 */
import type { FileChunk } from "./chunk.ts";
export type { AssignmentChange, FileChunk, PartitionCommit, TrackedFile };
import type {
  ChunkOutcome,
  FileAssembler,
  FileIdentity,
} from "./file_assembler.ts";
export type { ChunkOutcome };
import {
  type AssignmentChange,
  type PartitionCommit,
  PartitionFiles,
  type TrackedFile,
} from "./partition_files.ts";

/** Where a chunk was read. */
export interface ChunkPlace {
  /** The partition. */
  partition: number;
  /** The message's offset. */
  offset: string;
  /**
   * Defers work to after the commit covering this chunk (see
   * consumer_loop.ts); without it, a completed file is moved in at once.
   */
  afterCommit?: (work: () => Promise<void>) => void;
}

/** What {@linkcode GroupMember.accept} did with a chunk. */
export interface AcceptResult {
  /** What the assembler did; undefined when the previous owner had finished the file. */
  outcome: ChunkOutcome | undefined;
  /** A file ended: commit now, so no other member rebuilds it again. */
  commitNow: boolean;
  /**
   * A file completed and verified, to be moved into place once the commit
   * naming it finished was sent: resolves to its outcome then. Set only
   * when the place had `afterCommit`, which runs it.
   */
  placed?: Promise<ChunkOutcome>;
}

/**
 * A partial file no open file needs is dropped this long after a join (a
 * file of an earlier run whose partition another member owns now); a file
 * on a partition still owned is met again well before.
 */
export const ORPHAN_GRACE_MS = 30_000;

/** An assembler shared with the other members of a group. */
export class GroupMember {
  readonly #assembler: FileAssembler;
  readonly #files: PartitionFiles;
  #orphanTimer?: ReturnType<typeof setTimeout>;
  /**
   * Whether another member sharing the assembler (the one reading the
   * repartition topic, see repartition.ts) has file `key` open: its partial
   * copy is then no orphan here.
   */
  openElsewhere: (key: string) => boolean = () => false;

  /**
   * Wraps `assembler` for one topic's partitions. With
   * `rememberFinished` (the repartition topic, where a chunk can come again
   * after its file was finished) the commits name the files recently
   * finished on each partition, and the next owner skips them.
   */
  constructor(
    assembler: FileAssembler,
    options: { rememberFinished?: boolean } = {},
  ) {
    this.#files = new PartitionFiles(options);
    this.#assembler = assembler;
  }

  /** Partitions owned now. */
  get owned(): number[] {
    return this.#files.owned;
  }

  /** Whether file `key` is open here, on a partition owned now. */
  isOpen(key: string): boolean {
    return this.#files.isOpen(key);
  }

  /**
   * Writes one chunk unless the file is finished already (here, or by the
   * partition's previous owner), and notes the file as open or finished on
   * its partition. Throws what the assembler throws for a chunk to skip.
   */
  async accept(chunk: FileChunk, place: ChunkPlace): Promise<AcceptResult> {
    const file = this.#assembler.identify(chunk);
    const { partition, offset } = place;
    if (this.#files.finishedBefore(partition, offset, file.key)) {
      return { outcome: undefined, commitNow: false };
    }
    const afterCommit = place.afterCommit;
    if (!afterCommit) {
      const outcome = await this.#assembler.accept(chunk);
      this.#note(partition, offset, file, outcome);
      return { outcome, commitNow: this.#ended(outcome) };
    }
    // The file is named finished in the group's commit before it is moved
    // into place (one commit for a batch of files): a member killed in
    // between finishes it at its next start, and no other member rebuilds it.
    const outcome = await this.#assembler.acceptUnplaced(chunk);
    if (outcome.kind !== "verified") {
      this.#note(partition, offset, file, outcome);
      return { outcome, commitNow: false };
    }
    this.#files.finished(partition, offset, file.key);
    const placed = new Promise<ChunkOutcome>((resolve, reject) =>
      afterCommit(() => outcome.place().then(resolve, reject))
    );
    // Awaited by whoever takes `placed`; a failure also fails the lane.
    placed.catch(() => {});
    return { outcome: undefined, commitNow: false, placed };
  }

  /** Whether a file ended with `outcome` (in place or kept aside). */
  #ended(outcome: ChunkOutcome): boolean {
    return outcome.kind === "reconstructed" || outcome.kind === "rejected";
  }

  /** Notes the chunk's file as open or finished on its partition. */
  #note(
    partition: number,
    offset: string,
    file: FileIdentity,
    outcome: ChunkOutcome,
  ): void {
    if (this.#ended(outcome) || !this.#assembler.isPending(file.key)) {
      this.#files.finished(partition, offset, file.key);
    } else {
      this.#files.unfinished(partition, offset, file);
    }
  }

  /** Where to commit on `partition` once everything before `next` is handled. */
  commitPoint(partition: number, next: string): PartitionCommit {
    // A commit never passes chunks whose record is not yet durable.
    this.#assembler.flush();
    return this.#files.commitPoint(partition, next);
  }

  /**
   * Takes a new assignment: drops the partial files of files open only on
   * partitions owned elsewhere now, and, a little later, those of an earlier
   * run that no owned partition brought back. Returns what changed.
   */
  async assigned(
    owned: number[],
    committed: Map<number, string | null>,
  ): Promise<AssignmentChange> {
    const change = this.#files.assign(owned, committed);
    for (const file of change.lost) {
      await this.#assembler.abandon(
        file.key,
        () => this.openElsewhere(file.key),
      );
    }
    clearTimeout(this.#orphanTimer);
    this.#orphanTimer = setTimeout(
      () => this.#dropOrphans(),
      ORPHAN_GRACE_MS,
    );
    return change;
  }

  /** Drops partial files that no partition owned here has brought back. */
  async #dropOrphans(): Promise<void> {
    const isOpen = (key: string) =>
      this.#files.isOpen(key) || this.openElsewhere(key);
    for (const key of this.#assembler.pendingKeys()) {
      // Asked again in turn with the chunks: one may have just opened it.
      if (!isOpen(key)) await this.#assembler.abandon(key, () => isOpen(key));
    }
  }

  /**
   * Gives up the unfinished files that got no chunk for `idleMs` while
   * Kafka answered (`kafkaAnswers` is asked only when some file is that
   * silent): their partial copies are removed and they no longer hold their
   * partitions' commits back (see file_expiry.ts). Returns them.
   */
  async expireIdle(
    idleMs: number,
    kafkaAnswers: () => Promise<boolean>,
  ): Promise<TrackedFile[]> {
    if (!this.#files.hasIdle(idleMs)) return [];
    // While Kafka is away no chunk can come: the silence does not count.
    if (!await kafkaAnswers()) {
      this.#files.touchAll();
      return [];
    }
    const given = this.#files.expire(idleMs);
    const isOpen = (key: string) =>
      this.#files.isOpen(key) || this.openElsewhere(key);
    for (const file of given) {
      // A chunk of it read meanwhile opened it again: it stays.
      await this.#assembler.abandon(file.key, () => isOpen(file.key));
    }
    return given;
  }

  /** Stops the timers. */
  close(): void {
    clearTimeout(this.#orphanTimer);
  }
}

/**
 * One line about a member's share of its group, for `check` and the
 * periodic status.
 *
 * @example
 * ```ts
 * shareLine({ owned: [0, 3], lag: 120 }, 2);
 * // "owns partition(s) 0,3; 2 file(s) in progress; group lag 120 message(s)"
 * ```
 */
export function shareLine(
  status: { owned: number[]; lag: number | undefined },
  filesInProgress: number,
): string {
  const owned = status.owned.join(",") || "none";
  const lag = status.lag ?? "unknown";
  return `owns partition(s) ${owned}; ${filesInProgress} file(s) in progress; group lag ${lag} message(s)`;
}
