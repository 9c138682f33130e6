/**
 * One consumer's handling, "at least once": each message goes to `handle`,
 * and its offset is committed only after `handle` has finished with it (at a
 * point `commitPoint` may hold further back), so a crash can repeat a few
 * messages but never skip one.
 *
 * Messages wait in one lane per partition: a lane handles its messages in
 * offset order, one at a time, while the lanes of other partitions go on
 * beside it (the file assembler then writes and hashes several files at
 * once). Before the group rebalances, {@linkcode PartitionLanes.hold} lets
 * the running messages finish and commits them; after the join,
 * {@linkcode PartitionLanes.reset} keeps only the partitions still owned, so
 * no handler ever works on a partition this consumer lost.
 *
 * @example
 * ```ts
 * import { PartitionLanes } from "./consumer_loop.ts";
 *
 * const lanes = new PartitionLanes("lecroy_files", {
 *   handle: async (value, where) => console.log(where.offset, value?.length),
 * }, {
 *   commit: async (partition, point) => console.log(partition, point.offset),
 *   fatal: (error) => console.error(error),
 * });
 * lanes.reset([0], Promise.resolve());
 * lanes.push({ partition: 0, offset: 0n, value: new Uint8Array(3) });
 * await lanes.hold();
 * ```
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { HandlerError } from "./consumer_crashes.ts";

/** Where a message came from, for log lines about it. */
export interface MessagePosition {
  /** The topic. */
  topic: string;
  /** The partition. */
  partition: number;
  /** The message's offset. */
  offset: string;
  /** The message's Kafka timestamp, ms since 1970 (when the client gave one). */
  timestamp?: string;
  /** The message's headers (none for a message without). */
  headers?: ReadonlyMap<Uint8Array, Uint8Array>;
  /** The message's Kafka key, when it has one. */
  key?: Uint8Array | null;
  /**
   * Runs `work` once the lane's next commit, which covers this message, was
   * sent (taken or refused), in order with the work of earlier commits and
   * before the commit after it; the commit comes within
   * {@linkcode COMMIT_EVERY_DEFERRED} such messages, or when no message
   * waits. The lane handles its next messages meanwhile. A handler defers
   * here what must follow the message's commit (a file named finished in it
   * is moved into place), so that one commit serves a batch of files. Not
   * run if the lanes fail first.
   */
  afterCommit?: (work: () => Promise<void>) => void;
}

/** What a consumer does with each message, and where it commits. */
export interface MessageHandlers {
  /**
   * Handles one message; the offset is committed after it resolves (at
   * the latest once its partition has no more messages waiting; at once
   * when it resolves to true).
   */
  handle: (
    value: Uint8Array | null,
    where: MessagePosition,
  ) => Promise<boolean | void>;
  /**
   * Where to commit on `partition` once every message before `next` is
   * handled, with metadata to store beside the offset; default `next`
   * itself. A reconstructor holds the commit at the first chunk of its
   * oldest unfinished file, so that file's next owner reads it whole.
   */
  commitPoint?: (partition: number, next: string) => CommitPoint;
  /**
   * Called before handled messages are committed at a rebalance or stop,
   * once no handler runs: work a handler left going (e.g. messages passed
   * on to another topic) ends here, so the commit can pass it.
   */
  settle?: () => Promise<void>;
}

/** An offset to commit and the metadata stored with it. */
export interface CommitPoint {
  /** The next offset to read from this partition. */
  offset: string;
  /** Kept by Kafka beside the offset (at most a few KiB); null for none. */
  metadata: string | null;
}

/**
 * Commit after this many messages while a partition's messages keep coming
 * (or with the first message after, if the last commit is still out).
 */
export const COMMIT_EVERY_MESSAGES = 200;
/**
 * Commit after this many messages with work deferred to after their commit
 * (see {@linkcode MessagePosition.afterCommit}): a file rebuilt waits for at
 * most this many others before it is moved into place.
 */
export const COMMIT_EVERY_DEFERRED = 32;

/** One message as the lanes take it. */
export interface LaneMessage {
  /** The partition it was read from. */
  partition: number;
  /** Its offset. */
  offset: bigint;
  /** Its value. */
  value: Uint8Array | null;
  /** Its Kafka timestamp, ms since 1970. */
  timestamp?: bigint;
  /** Its headers. */
  headers?: ReadonlyMap<Uint8Array, Uint8Array>;
  /** Its key. */
  key?: Uint8Array | null;
}

/** What the lanes call outside themselves. */
export interface LaneCallbacks {
  /**
   * Stores `point` as the group's commit on `partition`; resolves to false
   * when Kafka refused it (it is then asked again at the next chance).
   */
  commit: (partition: number, point: CommitPoint) => Promise<boolean | void>;
  /** A handler failed (a {@linkcode HandlerError}) or a commit failed for good. */
  fatal: (error: Error) => void;
  /**
   * A message was handled and fewer than `drainedBytes` wait now (see
   * {@linkcode PartitionLanes.waitingBytes}); called after each such
   * message, so it must be cheap (a stream resumed if it was paused).
   */
  drained?: () => void;
  /** Where `drained` is called; default {@linkcode DRAINED_BYTES}. */
  drainedBytes?: number;
}

/** One partition's waiting messages and what was handled of them. */
interface Lane {
  readonly partition: number;
  readonly queue: (LaneMessage | undefined)[];
  /** Index of the next message in `queue` (shifting is slow on long queues). */
  head: number;
  /** The last offset handled and not yet committed. */
  done?: bigint;
  /** Messages handled since the last commit. */
  sinceCommit: number;
  /** The offset last committed (or asked to be). */
  committed?: string;
  /** The running worker, if any. */
  running?: Promise<void>;
  /** The commit going out while the lane goes on (one at a time), if any. */
  committing?: Promise<void>;
  /** Work handlers deferred to after the next commit, in order. */
  deferred: (() => Promise<void>)[];
  /** Wakes the worker waiting for a message while its commit is out. */
  arrived?: () => void;
}

/**
 * A lane gives the event loop a turn after handling messages for this long.
 * Its handlers may be synchronous (at 16 KiB a chunk's check, write and row
 * are), and promise steps alone never let the event loop run: the next
 * fetch request went out, and its answer was read, only once the lane ran
 * dry, so the rebuild waited a round trip to the broker for every few MiB.
 */
const TURN_EVERY_MS = 2;

/** Lets the event loop run its I/O (sockets, timers) before going on. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Below this many waiting bytes, {@linkcode LaneCallbacks.drained} is
 * called, unless {@linkcode LaneCallbacks.drainedBytes} says otherwise.
 */
export const DRAINED_BYTES = 2 * 1024 * 1024;

/**
 * The partitions of one consumer, each handled in order, several at once.
 *
 * @example
 * ```ts
 * const lanes = new PartitionLanes("t", { handle: async () => {} }, {
 *   commit: async () => {},
 *   fatal: (error) => console.error(error),
 * });
 * ```
 */
export class PartitionLanes {
  readonly #topic: string;
  readonly #handlers: MessageHandlers;
  readonly #callbacks: LaneCallbacks;
  #lanes = new Map<number, Lane>();
  /** Messages are handled only after this resolves (the join's work). */
  #ready: Promise<void> = Promise.resolve();
  #held = true;
  #failed = false;
  #waitingBytes = 0;

  /** Lanes for `topic`, held until the first {@linkcode PartitionLanes.reset}. */
  constructor(
    topic: string,
    handlers: MessageHandlers,
    callbacks: LaneCallbacks,
  ) {
    this.#topic = topic;
    this.#handlers = handlers;
    this.#callbacks = callbacks;
  }

  /** Bytes of the messages waiting in every lane. */
  get waitingBytes(): number {
    return this.#waitingBytes;
  }

  /** Queues a message of an owned partition; others are dropped. */
  push(message: LaneMessage): void {
    const lane = this.#lanes.get(message.partition);
    if (!lane || this.#failed) return;
    lane.queue.push(message);
    this.#waitingBytes += message.value?.byteLength ?? 0;
    if (!lane.running && !this.#held) this.#start(lane);
    else lane.arrived?.();
  }

  /**
   * Stops starting messages, waits for the running ones, and commits what
   * was handled. The lanes stay held until the next reset.
   */
  async hold(): Promise<void> {
    this.#held = true;
    const lanes = [...this.#lanes.values()];
    await Promise.all(lanes.map((lane) => lane.running));
    await this.#handlers.settle?.();
    await Promise.all(
      lanes.map((lane) =>
        lane.sinceCommit > 0 ? this.#commit(lane) : this.#commitMoved(lane)
      ),
    );
  }

  /**
   * Takes a new assignment after a join: drops every waiting message (the
   * stream of the new generation reads again from the commits) and the
   * lanes of partitions no longer owned; handles messages once `ready`.
   * Call only after {@linkcode PartitionLanes.hold} settled.
   */
  reset(owned: number[], ready: Promise<void>): void {
    this.#lanes = new Map(
      owned.map((partition) => [partition, {
        partition,
        queue: [],
        head: 0,
        sinceCommit: 0,
        deferred: [],
      }]),
    );
    this.#waitingBytes = 0;
    this.#ready = ready;
    this.#held = false;
  }

  /**
   * Asks `commitPoint` again for every idle lane and commits where the
   * point moved (e.g. a file that held it back was given up): a partition
   * with no new messages would otherwise keep its old commit.
   */
  recommit(): void {
    if (this.#held || this.#failed) return;
    for (const lane of this.#lanes.values()) {
      if (lane.running || lane.done === undefined) continue;
      lane.running = this.#commitMoved(lane).finally(() => {
        lane.running = undefined;
        if (lane.head < lane.queue.length && !this.#held) this.#start(lane);
      });
    }
  }

  /** Commits `point` for the lane, remembering it only once Kafka took it. */
  async #store(lane: Lane, point: CommitPoint): Promise<void> {
    lane.committed = undefined;
    const taken = await this.#callbacks.commit(lane.partition, point);
    if (taken !== false) lane.committed = point.offset;
  }

  /** Commits a lane's handled messages if the commit point moved. */
  async #commitMoved(lane: Lane): Promise<void> {
    if (lane.done === undefined || this.#failed) return;
    const next = (lane.done + 1n).toString();
    const point = this.#handlers.commitPoint?.(lane.partition, next) ??
      { offset: next, metadata: null };
    if (point.offset === lane.committed) return;
    await this.#store(lane, point);
  }

  /**
   * Starts a lane's worker. A message pushed between the worker's last look
   * at its queue and its end (the client hands messages over from promise
   * steps, and the worker's end takes a few) found it still running; it is
   * started again for that message, or the message waited for the next
   * push, which may never come (CI: a processor's last file never handled).
   */
  #start(lane: Lane): void {
    lane.running = this.#work(lane).finally(() => {
      lane.running = undefined;
      const mine = this.#lanes.get(lane.partition) === lane;
      if (mine && lane.head < lane.queue.length && !this.#held) {
        this.#start(lane);
      }
    });
  }

  /**
   * Handles a lane's messages in order until none wait or the lanes are
   * held; ends only once its commits (and the work deferred to them) are done.
   */
  async #work(lane: Lane): Promise<void> {
    await this.#ready;
    const going = () => !this.#held && this.#lanes.get(lane.partition) === lane;
    try {
      while (going()) {
        let turnAt = performance.now();
        while (lane.head < lane.queue.length && going()) {
          if (await this.#handleNext(lane) === "failed") return;
          if (performance.now() - turnAt >= TURN_EVERY_MS) {
            await nextTurn();
            turnAt = performance.now();
          }
        }
        if (!going()) break;
        // Like the end of a batch: nothing waits, so commit what was handled.
        // Messages that come while Kafka answers are handled at once: waiting
        // for the answer first held them up for 10 ms a time, 0.27 s of a
        // 512 MiB rebuild at 16 KiB (issue 22).
        if (!lane.committing && lane.sinceCommit > 0) {
          lane.committing = this.#commit(lane).finally(() => {
            lane.committing = undefined;
          });
        }
        if (lane.committing) {
          await this.#arrivalOr(lane, lane.committing);
          continue;
        }
        // Nothing waits and nothing is left to commit: the worker ends.
        lane.queue.length = 0;
        lane.head = 0;
        return;
      }
    } finally {
      await lane.committing;
    }
  }

  /** Resolves once a message comes to `lane` or `other` settles. */
  #arrivalOr(lane: Lane, other: Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
      lane.arrived = resolve;
      other.then(resolve, resolve);
    }).finally(() => {
      lane.arrived = undefined;
    });
  }

  /** Handles a lane's next message and commits when it is time. */
  async #handleNext(lane: Lane): Promise<"failed" | "done"> {
    const message = lane.queue[lane.head]!;
    // Handled messages must not stay referenced: each holds its chunk.
    lane.queue[lane.head++] = undefined;
    if (lane.head > 1024 && lane.head * 2 > lane.queue.length) {
      lane.queue.splice(0, lane.head);
      lane.head = 0;
    }
    // Counted now: a handler may give the value's memory back (it then reads
    // as empty; lib/common/buffer_memory.ts).
    const size = message.value?.byteLength ?? 0;
    let commitNow: boolean | void;
    try {
      commitNow = await this.#handlers.handle(message.value, {
        topic: this.#topic,
        partition: lane.partition,
        offset: message.offset.toString(),
        timestamp: message.timestamp?.toString(),
        headers: message.headers,
        key: message.key,
        afterCommit: (work) => lane.deferred.push(work),
      });
    } catch (error) {
      this.#fail(new HandlerError(error));
      return "failed";
    } finally {
      this.#release(size);
    }
    lane.done = message.offset;
    const urgent = commitNow === true ||
      lane.deferred.length >= COMMIT_EVERY_DEFERRED;
    if (++lane.sinceCommit >= COMMIT_EVERY_MESSAGES || urgent) {
      // The lane goes on while Kafka answers (a round trip of several ms).
      // Commits go one at a time, in order: a count reached while the last
      // one is still out waits for the next message, not for Kafka (at 16
      // KiB, waiting cost a 512 MiB rebuild 0.25-0.35 s: issue 22).
      if (lane.committing && !urgent) return "done";
      await lane.committing;
      lane.committing = this.#commit(lane).finally(() => {
        lane.committing = undefined;
      });
    }
    return "done";
  }

  /**
   * Counts a message as no longer waiting, and says so while fewer than
   * `drainedBytes` wait. Said after every such message, not only when the
   * level crosses it: the level can move (a consumer's fetch size follows
   * how many of the run's consumers are busy), and a stream paused above
   * the old level, with the new one above what waits, was never resumed
   * (CI: a processor's files on one partition never read after 2 fetches).
   */
  #release(size: number): void {
    this.#waitingBytes -= size;
    const drained = this.#callbacks.drainedBytes ?? DRAINED_BYTES;
    if (this.#waitingBytes < drained) this.#callbacks.drained?.();
  }

  /** Commits a lane's handled messages at the point `commitPoint` says. */
  async #commit(lane: Lane): Promise<void> {
    if (lane.done === undefined || lane.sinceCommit === 0 || this.#failed) {
      return;
    }
    const next = (lane.done + 1n).toString();
    lane.sinceCommit = 0;
    let point: CommitPoint;
    try {
      point = this.#handlers.commitPoint?.(lane.partition, next) ??
        { offset: next, metadata: null };
    } catch (error) {
      // E.g. the record of what is on disk cannot be saved (a full disk):
      // nothing is committed past it, and the run stops.
      this.#fail(new HandlerError(error));
      return;
    }
    // Only the work of messages this commit covers: the lane goes on meanwhile.
    const deferred = lane.deferred;
    lane.deferred = [];
    await this.#store(lane, point);
    await this.#runDeferred(deferred);
  }

  /** Runs work deferred to after a commit, in order. */
  async #runDeferred(deferred: (() => Promise<void>)[]): Promise<void> {
    for (const work of deferred) {
      if (this.#failed) return;
      try {
        await work();
      } catch (error) {
        this.#fail(new HandlerError(error));
        return;
      }
    }
  }

  /** Stops every lane after a handler failed. */
  #fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#held = true;
    this.#callbacks.fatal(error);
  }
}
