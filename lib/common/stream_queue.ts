/**
 * One first-in, first-out queue for the whole project, built on the
 * platform's streams: a `TransformStream` whose readable side holds the
 * items, with a high-water mark for back-pressure.
 *
 * - Producers that can wait `await queue.put(item)`: while the queue is full,
 *   `put` waits (the stream's `writer.ready`) until a consumer took something.
 *   That keeps memory bounded when a file is read faster than Kafka accepts it.
 *   The limit counts items and, optionally, bytes: each item weighs the larger
 *   of one slot and its share of `maxBytes`, against `maxItems` slots. (The
 *   stream may hold an item or two beyond that while it hands them on.)
 * - Event sources that cannot wait (a socket that received a datagram) call
 *   `push(item)`, which never waits.
 * - Consumers `await queue.take()`, or loop with `for await`; several
 *   consumers may take at once, each item goes to one of them. A consumer that
 *   waits with a time limit gets its own {@linkcode StreamQueue.taker}, so an
 *   item that arrives just after the limit is not lost.
 *
 * @example
 * ```ts
 * import { StreamQueue } from "./stream_queue.ts";
 *
 * const queue = new StreamQueue<string>({ maxItems: 2 });
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

/** Limits of a {@linkcode StreamQueue}; without them it never makes `put` wait. */
export interface StreamQueueOptions<T> {
  /** About this many items may wait in the queue. */
  maxItems?: number;
  /** About this many bytes may wait (as measured by `sizeOf`). */
  maxBytes?: number;
  /** The size of one item in bytes; default 0. */
  sizeOf?: (item: T) => number;
}

/** What a timed take's timer says, unlike any item. */
const TIMED_OUT: unique symbol = Symbol("timed out");

/** A FIFO queue with back-pressure, on a `TransformStream`. */
export class StreamQueue<T> implements AsyncIterable<T> {
  readonly #writer: WritableStreamDefaultWriter<T>;
  readonly #reader: ReadableStreamDefaultReader<T>;
  readonly #sizeOf: (item: T) => number;
  #items = 0;
  #bytes = 0;
  #closed = false;

  /** A queue with the given limits (none: unbounded). */
  constructor(options: StreamQueueOptions<T> = {}) {
    const maxItems = Math.max(1, options.maxItems ?? Infinity);
    const maxBytes = options.maxBytes ?? Infinity;
    this.#sizeOf = options.sizeOf ?? (() => 0);
    // Weights in slots: one per item, more for an item bigger than its share.
    const weight = (item: T) =>
      Number.isFinite(maxBytes) && Number.isFinite(maxItems)
        ? Math.max(1, this.#sizeOf(item) * maxItems / maxBytes)
        : 1;
    const { readable, writable } = new TransformStream<T, T>(
      undefined,
      { highWaterMark: 1 },
      { highWaterMark: maxItems, size: weight },
    );
    this.#writer = writable.getWriter();
    this.#reader = readable.getReader();
  }

  /** Items waiting now. */
  get length(): number {
    return this.#items;
  }

  /** Bytes waiting now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds an item, waiting while the queue is full. Throws once closed. */
  async put(item: T): Promise<void> {
    await this.#writer.ready;
    if (this.#closed) throw new Error("put() on a closed queue");
    this.push(item);
  }

  /** Adds an item without waiting, however full the queue is. */
  push(item: T): void {
    if (this.#closed) return;
    this.#items++;
    this.#bytes += this.#sizeOf(item);
    // The write settles once the item moved on; its errors show in take().
    this.#writer.write(item).catch(() => {});
  }

  /** Takes the oldest item, waiting for one; undefined once closed and empty. */
  async take(): Promise<T | undefined> {
    const { value, done } = await this.#reader.read();
    if (done) return undefined;
    this.#items--;
    this.#bytes -= this.#sizeOf(value);
    return value;
  }

  /**
   * A take with a time limit, for one consumer: `undefined` when nothing came
   * in time (or the queue is closed and empty). A take that timed out stays
   * pending and hands its item to this consumer's next call, so no item is
   * lost. Each consumer needs its own taker.
   *
   * @example
   * ```ts
   * const queue = new StreamQueue<string>();
   * const take = queue.taker();
   * const next = await take(5); // an item, or undefined after 5 ms
   * ```
   */
  taker(): (timeoutMs?: number) => Promise<T | undefined> {
    let pending: Promise<T | undefined> | undefined;
    return async (timeoutMs?: number) => {
      pending ??= this.take();
      if (timeoutMs === undefined) {
        const item = await pending;
        pending = undefined;
        return item;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs);
      });
      const result = await Promise.race([pending, timedOut]);
      clearTimeout(timer);
      if (result === TIMED_OUT) return undefined;
      pending = undefined;
      return result;
    };
  }

  /** No more items; consumers drain what is left, then get `undefined`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#writer.close().catch(() => {});
  }

  /** Takes items until the queue is closed and empty. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      const item = await this.take();
      if (item === undefined) return;
      yield item;
    }
  }
}
