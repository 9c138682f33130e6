/**
 * Tests for lib/common/stream_queue.ts, the queue behind the Kafka producers'
 * back-pressure and the socket receivers: a full queue makes `put` wait until
 * something is taken, by count and by bytes, and no item is lost to a timed
 * take.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { StreamQueue } from "../lib/common/stream_queue.ts";

/** Starts `count` puts one after another; how many have finished so far. */
function putInTurn(queue: StreamQueue<number>, items: number[]) {
  const state = { done: 0, finished: Promise.resolve() };
  state.finished = (async () => {
    for (const item of items) {
      await queue.put(item);
      state.done++;
    }
  })();
  return state;
}

/** Lets every pending promise and stream step run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

Deno.test("put waits while the queue holds about maxItems items, and goes on after takes", async () => {
  const queue = new StreamQueue<number>({ maxItems: 4 });
  const producer = putInTurn(queue, Array.from({ length: 20 }, (_, i) => i));
  await settle();
  ok(producer.done >= 4 && producer.done <= 6, `${producer.done} puts`);
  const taken: number[] = [];
  while (taken.length < 20) taken.push((await queue.take())!);
  await producer.finished;
  deepStrictEqual(taken, Array.from({ length: 20 }, (_, i) => i));
});

Deno.test("put waits while the queue holds about maxBytes bytes, whatever maxItems allows", async () => {
  const queue = new StreamQueue<number>({
    maxItems: 1000,
    maxBytes: 1000,
    sizeOf: (bytes) => bytes,
  });
  const producer = putInTurn(queue, Array(20).fill(250));
  await settle();
  ok(producer.done >= 4 && producer.done <= 6, `${producer.done} puts`);
  ok(queue.bytes <= 1500, `${queue.bytes} bytes waiting`);
  for (let i = 0; i < 20; i++) strictEqual(await queue.take(), 250);
  await producer.finished;
  strictEqual(queue.bytes, 0);
});

Deno.test("a timed take that gets nothing keeps its place, and its item is not lost", async () => {
  const queue = new StreamQueue<string>();
  const take = queue.taker();
  strictEqual(await take(0), undefined);
  queue.push("late");
  strictEqual(await take(1000), "late");
  queue.close();
  strictEqual(await take(), undefined);
});

Deno.test("close lets consumers drain what is queued, then ends their loops", async () => {
  const queue = new StreamQueue<string>();
  queue.push("a");
  queue.push("b");
  queue.close();
  queue.push("after close");
  deepStrictEqual(await Array.fromAsync(queue), ["a", "b"]);
});
