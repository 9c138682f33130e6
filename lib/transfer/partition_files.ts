/**
 * Which files each partition holds open, so that a reconstructor in a
 * consumer group commits only past files that are complete on disk.
 *
 * The uploaders send every chunk of one file to one partition. A member of a
 * group commits a partition's offset up to the first chunk of the oldest
 * file it has not finished there, never further. When the partition moves to
 * another member (a rebalance, a crash, `quit`), the new owner reads on from
 * that commit, meets the unfinished file's first chunk again and rebuilds the
 * file whole; the old owner drops its partial copy.
 *
 * Files finished past the commit (a younger file done while an older one is
 * still open) travel in the commit's metadata, so the next owner skips them:
 * without a crash every file is rebuilt once in the group. A member killed
 * before its commit may see a file it finished rebuilt again elsewhere (at
 * least once).
 *
 * @example
 * ```ts
 * import { PartitionFiles } from "./partition_files.ts";
 *
 * const files = new PartitionFiles();
 * files.assign([0, 1], new Map());
 * files.unfinished(0, "10", { key: "k1", relativePath: "a.bin" });
 * files.commitPoint(0, "12"); // { offset: "10", metadata: ... }: a.bin is open
 * files.finished(0, "11", "k1");
 * files.commitPoint(0, "12").offset; // "12"
 * ```
 *
 * @module
 */

/** The offset to commit and the metadata to store beside it. */
export interface PartitionCommit {
  /** The next offset to read: the first chunk of the oldest open file, or past everything read. */
  offset: string;
  /** The files finished past that offset, for the partition's next owner. */
  metadata: string | null;
}

/** A file as the tracker knows it. */
export interface TrackedFile {
  /** The file version's key (the same in every working folder). */
  key: string;
  /** Its path under WORKINGDIR. */
  relativePath: string;
}

/** What a new assignment means for the files in progress here. */
export interface AssignmentChange {
  /** Files open only on partitions this member no longer owns: drop their partial copies. */
  lost: TrackedFile[];
  /** Partitions this member lost. */
  lostPartitions: number[];
  /** Partitions this member gained. */
  gainedPartitions: number[];
}

/** An open file: where its first chunk is on each partition it was seen on. */
interface OpenFile extends TrackedFile {
  firstOffset: Map<number, bigint>;
  lastChunkAt: number;
}

/** Metadata marker and version; other metadata is ignored. */
const METADATA_PREFIX = "reconstruct-files-1:";
/** Characters of a key in the metadata: enough to tell files apart. */
const SHORT_KEY = 16;
/** Keys carried at most (Kafka keeps 4096 bytes of metadata by default). */
const MAX_CARRIED = 200;

/** Open files and finished-but-uncommitted files, per partition. */
export class PartitionFiles {
  readonly #open = new Map<string, OpenFile>();
  /** Per partition: short key to first offset of files finished here. */
  readonly #finished = new Map<number, Map<string, bigint>>();
  /**
   * Per partition: short keys the previous owner finished, with the first
   * offset met again (undefined until then); kept while the partition is owned.
   */
  readonly #skip = new Map<number, Map<string, bigint | undefined>>();
  #owned = new Set<number>();
  readonly #remember: boolean;

  /**
   * With `rememberFinished`, commits name the files finished on the
   * partition recently (the last {@linkcode MAX_CARRIED}), not only those
   * past the committed offset: a chunk of such a file that comes again
   * later (forwarded twice after a crash) is skipped by the next owner too.
   */
  constructor(options: { rememberFinished?: boolean } = {}) {
    this.#remember = options.rememberFinished ?? false;
  }

  /** Partitions owned now, ascending. */
  get owned(): number[] {
    return [...this.#owned].sort((a, b) => a - b);
  }

  /** Files open here, oldest first. */
  get open(): TrackedFile[] {
    return [...this.#open.values()].map(({ key, relativePath }) => ({
      key,
      relativePath,
    }));
  }

  /** Whether file `key` is open here (on a partition owned now). */
  isOpen(key: string): boolean {
    return this.#open.has(key);
  }

  /**
   * Takes a new assignment: `owned` is every partition owned now,
   * `committed` the metadata committed on the partitions that are read
   * again from their commit.
   */
  assign(
    owned: number[],
    committed: Map<number, string | null>,
  ): AssignmentChange {
    const now = new Set(owned);
    const lostPartitions = [...this.#owned].filter((p) => !now.has(p));
    const gainedPartitions = owned.filter((p) => !this.#owned.has(p));
    this.#owned = now;
    const lost: TrackedFile[] = [];
    for (const partition of lostPartitions) {
      this.#finished.delete(partition);
      this.#skip.delete(partition);
    }
    for (const file of [...this.#open.values()]) {
      for (const partition of lostPartitions) {
        file.firstOffset.delete(partition);
      }
      if (file.firstOffset.size === 0) {
        this.#open.delete(file.key);
        lost.push({ key: file.key, relativePath: file.relativePath });
      }
    }
    for (const [partition, metadata] of committed) {
      this.#skip.set(partition, parseMetadata(metadata));
    }
    return { lost, lostPartitions, gainedPartitions };
  }

  /**
   * Whether the chunk at `offset` belongs to a file the partition's previous
   * owner finished (named in the commit's metadata): skip it. The file is
   * then carried on in this member's commits until they pass it.
   */
  finishedBefore(partition: number, offset: string, key: string): boolean {
    const skip = this.#skip.get(partition);
    const short = key.slice(0, SHORT_KEY);
    if (this.#open.has(key) || !skip?.has(short)) return false;
    const first = skip.get(short);
    const at = BigInt(offset);
    if (first === undefined || at < first) skip.set(short, at);
    return true;
  }

  /** A chunk of file `file`, still unfinished here, read at `offset` of `partition`. */
  unfinished(
    partition: number,
    offset: string,
    file: TrackedFile,
  ): void {
    let open = this.#open.get(file.key);
    if (!open) {
      open = {
        ...file,
        firstOffset: new Map(),
        lastChunkAt: 0,
      };
      this.#open.set(file.key, open);
    }
    const at = BigInt(offset);
    const first = open.firstOffset.get(partition);
    if (first === undefined || at < first) open.firstOffset.set(partition, at);
    open.lastChunkAt = Date.now();
  }

  /** File `key` is finished (rebuilt, kept aside, or already here); its chunk was at `offset`. */
  finished(partition: number, offset: string, key: string): void {
    const open = this.#open.get(key);
    this.#open.delete(key);
    const short = key.slice(0, SHORT_KEY);
    for (const [p, first] of open?.firstOffset ?? []) {
      this.#noteFinished(p, short, first);
    }
    this.#noteFinished(partition, short, BigInt(offset));
  }

  /** Remembers where a finished file starts on a partition (its earliest chunk seen). */
  #noteFinished(partition: number, short: string, at: bigint): void {
    let done = this.#finished.get(partition);
    if (!done) this.#finished.set(partition, done = new Map());
    const before = done.get(short);
    if (before === undefined || at < before) done.set(short, at);
  }

  /**
   * Where to commit on `partition` once everything before `next` is handled:
   * not past the first chunk of a file still open there.
   */
  commitPoint(partition: number, next: string): PartitionCommit {
    let safe = BigInt(next);
    for (const file of this.#open.values()) {
      const first = file.firstOffset.get(partition);
      if (first !== undefined && first < safe) safe = first;
    }
    const carried: string[] = [];
    const done = this.#finished.get(partition);
    const skip = this.#skip.get(partition);
    if (this.#remember) {
      // The oldest first, so the newest are the ones kept.
      for (const short of skip?.keys() ?? []) carried.push(short);
      for (const short of done?.keys() ?? []) carried.push(short);
      prune(done, MAX_CARRIED);
      prune(skip, MAX_CARRIED);
    } else {
      for (const [short, first] of done ?? []) {
        if (first < safe) done!.delete(short);
        else carried.push(short);
      }
      for (const [short, first] of skip ?? []) {
        if (first === undefined || first >= safe) carried.push(short);
      }
    }
    return {
      offset: safe.toString(),
      metadata: carried.length === 0
        ? null
        : METADATA_PREFIX + [...new Set(carried)].slice(-MAX_CARRIED).join(","),
    };
  }

  /**
   * Gives up the open files whose last chunk was read `idleMs` or longer
   * ago: they no longer hold any partition's commit back. Returns them.
   */
  expire(idleMs: number): TrackedFile[] {
    const given: TrackedFile[] = [];
    const now = Date.now();
    if (this.#idleSince(now) < idleMs) return given;
    for (const file of [...this.#open.values()]) {
      if (now - file.lastChunkAt < idleMs) continue;
      this.#open.delete(file.key);
      given.push({ key: file.key, relativePath: file.relativePath });
    }
    return given;
  }

  /** How long the longest-silent open file has had no chunk (0 for none). */
  #idleSince(now: number): number {
    let longest = 0;
    for (const file of this.#open.values()) {
      longest = Math.max(longest, now - file.lastChunkAt);
    }
    return longest;
  }

  /** Whether some open file has had no chunk for `idleMs`. */
  hasIdle(idleMs: number): boolean {
    return this.#idleSince(Date.now()) >= idleMs;
  }

  /** Counts every open file as just read (Kafka was away: no chunk could come). */
  touchAll(): void {
    const now = Date.now();
    for (const file of this.#open.values()) file.lastChunkAt = now;
  }
}

/** Deletes the oldest entries of `map` beyond the newest `keep`. */
function prune<V>(map: Map<string, V> | undefined, keep: number): void {
  if (!map) return;
  for (const key of map.keys()) {
    if (map.size <= keep) return;
    map.delete(key);
  }
}

/** The short keys in a commit's metadata (none for other or no metadata). */
function parseMetadata(
  metadata: string | null,
): Map<string, bigint | undefined> {
  if (!metadata?.startsWith(METADATA_PREFIX)) return new Map();
  const list = metadata.slice(METADATA_PREFIX.length);
  return new Map(list === "" ? [] : list.split(",").map((k) => [k, undefined]));
}
