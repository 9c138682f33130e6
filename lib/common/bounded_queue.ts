/**
 * A first-in, first-out queue with a size limit, for back-pressure.
 *
 * Producers `await queue.put(item)`: when the queue is full, the await waits
 * until a consumer has taken something. That is what keeps memory bounded when
 * a file is read faster than Kafka accepts it (the 2021 tools had an unbounded
 * queue, or dropped chunks when a buffer was full). The limit counts items and,
 * optionally, bytes.
 *
 * @example
 * ```ts
 * import { BoundedQueue } from "./bounded_queue.ts";
 *
 * const queue = new BoundedQueue<string>({ maxItems: 2 });
 * await queue.put("a");
 * await queue.put("b"); // a third put would wait for a take
 * await queue.take(); // "a"
 * queue.close();
 * await queue.take(); // "b"
 * await queue.take(); // undefined: closed and empty
 * ```
 *
 * @module
 */

/** Limits of a {@linkcode BoundedQueue}. */
export interface BoundedQueueOptions<T> {
  /** At most this many items wait in the queue. */
  maxItems: number;
  /** At most this many bytes wait (as measured by `sizeOf`). */
  maxBytes?: number;
  /** The size of one item in bytes; default 0. */
  sizeOf?: (item: T) => number;
}

/** A bounded FIFO queue with awaitable `put` and `take`. */
export class BoundedQueue<T> {
  readonly #items: T[] = [];
  readonly #maxItems: number;
  readonly #maxBytes: number;
  readonly #sizeOf: (item: T) => number;
  #bytes = 0;
  #closed = false;
  /** Wakes waiting putters and takers; each waits again if still blocked. */
  #waiters: (() => void)[] = [];

  constructor(options: BoundedQueueOptions<T>) {
    this.#maxItems = Math.max(1, options.maxItems);
    this.#maxBytes = options.maxBytes ?? Infinity;
    this.#sizeOf = options.sizeOf ?? (() => 0);
  }

  /** Items waiting now. */
  get length(): number {
    return this.#items.length;
  }

  /** Bytes waiting now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds an item, waiting while the queue is full. Throws once closed. */
  async put(item: T): Promise<void> {
    // An item larger than maxBytes may still go in alone, or it never could.
    while (
      !this.#closed && this.#items.length > 0 &&
      (this.#items.length >= this.#maxItems ||
        this.#bytes + this.#sizeOf(item) > this.#maxBytes)
    ) {
      await this.#wait();
    }
    if (this.#closed) throw new Error("put() on a closed queue");
    this.#items.push(item);
    this.#bytes += this.#sizeOf(item);
    this.#wakeAll();
  }

  /**
   * Takes the oldest item. Waits for one, at most `timeoutMs` if given;
   * `undefined` when the wait timed out or the queue is closed and empty.
   */
  async take(timeoutMs?: number): Promise<T | undefined> {
    const deadline = timeoutMs === undefined
      ? Infinity
      : Date.now() + timeoutMs;
    while (this.#items.length === 0 && !this.#closed) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await this.#wait(left === Infinity ? undefined : left);
    }
    return this.tryTake();
  }

  /** Takes the oldest item if there is one, without waiting. */
  tryTake(): T | undefined {
    const item = this.#items.shift();
    if (item !== undefined) {
      this.#bytes -= this.#sizeOf(item);
      this.#wakeAll();
    }
    return item;
  }

  /** No more puts; takers drain what is left, then get `undefined`. */
  close(): void {
    this.#closed = true;
    this.#wakeAll();
  }

  #wait(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiters.push(wake);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== wake);
          resolve();
        }, timeoutMs);
      }
    });
  }

  #wakeAll(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
