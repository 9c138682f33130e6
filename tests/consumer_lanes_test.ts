/**
 * The order a partition's lane keeps between handling, committing and the
 * work deferred to after a commit (a rebuilt file is moved into place only
 * once the commit naming it finished was sent), without a broker: the lane's
 * commits are recorded as they are asked for.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import {
  COMMIT_EVERY_DEFERRED,
  COMMIT_EVERY_MESSAGES,
  type MessagePosition,
  PartitionLanes,
} from "../lib/kafka/consumer_loop.ts";
import { sleep } from "../lib/common/shutdown.ts";

/** What {@linkcode pushThroughLanes} recorded. */
interface Recorded {
  /** `commit N` for each commit asked for, `handle N` if asked, and what `work` adds. */
  events: string[];
  /** The errors the lanes stopped with. */
  failures: Error[];
  lanes: PartitionLanes;
}

/**
 * Pushes offsets 0 to `count - 1` of partition 0 through lanes whose handler
 * defers `work(offset, events)` to after a commit past the message; each
 * commit asked for is recorded in `events` (each message handled too, with
 * `recordHandling`). A fatal error is kept and calls `stopped`.
 */
function pushThroughLanes(
  count: bigint,
  work: (offset: string, events: string[]) => Promise<void>,
  stopped: () => void,
  recordHandling = false,
): Recorded {
  const events: string[] = [];
  const failures: Error[] = [];
  const lanes = new PartitionLanes("t", {
    handle: (_value, where) => {
      if (recordHandling) events.push(`handle ${where.offset}`);
      where.afterCommit!(() => work(where.offset, events));
      return Promise.resolve();
    },
  }, {
    commit: (_partition, point) => {
      events.push(`commit ${point.offset}`);
      return Promise.resolve();
    },
    fatal: (error) => {
      failures.push(error);
      stopped();
    },
  });
  lanes.reset([0], Promise.resolve());
  for (let offset = 0n; offset < count; offset++) {
    lanes.push({ partition: 0, offset, value: new Uint8Array(1) });
  }
  return { events, failures, lanes };
}

Deno.test("work deferred by 100 messages runs only after a commit past each message, one commit for each 32", async () => {
  const last = Promise.withResolvers<void>();
  const { events, failures, lanes } = pushThroughLanes(
    100n,
    (offset, events) => {
      events.push(`place ${offset}`);
      if (offset === "99") last.resolve();
      return Promise.resolve();
    },
    () => last.resolve(), // Fails below rather than waiting forever.
    true,
  );
  await last.promise;
  await lanes.hold();

  deepStrictEqual(failures, []);
  const commits = events.filter((event) => event.startsWith("commit"));
  deepStrictEqual(commits, [
    "commit 32",
    "commit 64",
    "commit 96",
    "commit 100",
  ]);
  deepStrictEqual(COMMIT_EVERY_DEFERRED, 32);
  let committed = 0;
  const placed: number[] = [];
  for (const event of events) {
    const [kind, offset] = event.split(" ");
    if (kind === "commit") committed = Number(offset);
    if (kind === "place") {
      ok(Number(offset) < committed, `${event} before a commit past it`);
      placed.push(Number(offset));
    }
  }
  deepStrictEqual(placed, Array.from({ length: 100 }, (_, i) => i));
});

Deno.test("deferred work that fails stops the lanes: nothing after it runs, nothing more is committed", async () => {
  const failed = Promise.withResolvers<void>();
  const { events, failures, lanes } = pushThroughLanes(
    40n,
    (offset, events) => {
      if (offset === "3") return Promise.reject(new Error("disk"));
      events.push(`place ${offset}`);
      return Promise.resolve();
    },
    () => failed.resolve(),
  );
  await failed.promise;
  await lanes.hold();

  deepStrictEqual(failures.length, 1);
  deepStrictEqual(events, [
    "commit 32",
    "place 0",
    "place 1",
    "place 2",
  ]);
});

/**
 * Lanes on partition 0 (already reset) that record `handle N` for each
 * message (then call `handled`), and `commit N` / `committed N` around each
 * commit; the commit at `slowOffset` is answered only once `answer` resolves.
 */
function lanesWithSlowCommit(
  events: string[],
  slowOffset: string,
  answer: Promise<void>,
  handled: (where: MessagePosition) => void,
): PartitionLanes {
  const lanes = new PartitionLanes("t", {
    handle: (_value, where) => {
      events.push(`handle ${where.offset}`);
      handled(where);
      return Promise.resolve();
    },
  }, {
    commit: async (_partition, point) => {
      events.push(`commit ${point.offset}`);
      if (point.offset === slowOffset) await answer;
      events.push(`committed ${point.offset}`);
    },
    fatal: (error) => {
      throw error;
    },
  });
  lanes.reset([0], Promise.resolve());
  return lanes;
}

/** Pushes offsets `from` to `to - 1` of partition 0, `size` bytes each, into `lanes`. */
function pushOffsets(
  lanes: PartitionLanes,
  from: bigint,
  to: bigint,
  size = 1,
): void {
  for (let offset = from; offset < to; offset++) {
    lanes.push({ partition: 0, offset, value: new Uint8Array(size) });
  }
}

Deno.test("a commit Kafka is slow to answer does not stop the lane: the next messages are handled meanwhile, their deferred work waits for the next commit", async () => {
  const events: string[] = [];
  const firstCommit = Promise.withResolvers<void>();
  const handled40 = Promise.withResolvers<void>();
  // The first commit is answered only once the lane handled 8 more.
  const lanes = lanesWithSlowCommit(
    events,
    "32",
    firstCommit.promise,
    (where) => {
      if (where.offset === "39") handled40.resolve();
      where.afterCommit!(() => {
        events.push(`place ${where.offset}`);
        return Promise.resolve();
      });
    },
  );
  pushOffsets(lanes, 0n, 40n);
  await handled40.promise;
  // Handled past the commit still waiting for its answer; nothing placed yet.
  ok(events.indexOf("handle 39") > events.indexOf("commit 32"));
  ok(!events.includes("committed 32"));
  ok(!events.some((event) => event.startsWith("place")));
  firstCommit.resolve();
  await lanes.hold();

  // Placed in order, each only after the commit past it was answered.
  const placed = events.filter((event) => event.startsWith("place"));
  deepStrictEqual(placed, Array.from({ length: 40 }, (_, i) => `place ${i}`));
  ok(events.indexOf("place 31") > events.indexOf("committed 32"));
  ok(events.indexOf("place 32") > events.indexOf("committed 40"));
  deepStrictEqual(
    events.filter((event) => event.startsWith("commit ")),
    ["commit 32", "commit 40"],
  );
});

Deno.test("a lane that ran dry commits and handles the messages that come while Kafka answers, without waiting for the answer", async () => {
  const events: string[] = [];
  const answer = Promise.withResolvers<void>();
  const handled = Promise.withResolvers<void>();
  // The commit made when the lane ran dry is answered only at the end.
  const lanes = lanesWithSlowCommit(events, "3", answer.promise, (where) => {
    if (where.offset === "4") handled.resolve();
  });
  pushOffsets(lanes, 0n, 3n);
  // The lane runs dry and commits; the next fetch's messages come meanwhile.
  while (!events.includes("commit 3")) await sleep(1);
  pushOffsets(lanes, 3n, 5n);
  await handled.promise;
  ok(!events.includes("committed 3"), "handled before Kafka answered");
  answer.resolve();
  await lanes.hold();
  // One commit out at a time, in order, and the last covers every message.
  deepStrictEqual(events.filter((event) => event.startsWith("commit")), [
    "commit 3",
    "committed 3",
    "commit 5",
    "committed 5",
  ]);
});

Deno.test("a lane of synchronous handlers lets the event loop run (a fetch answer, a timer) while it works", async () => {
  let handled = 0;
  let handledWhenTimerRan = -1;
  const all = Promise.withResolvers<void>();
  const lanes = new PartitionLanes("t", {
    handle: () => {
      // 1 ms of work that never waits, like a chunk's check, write and row.
      const until = performance.now() + 1;
      while (performance.now() < until) { /* busy */ }
      if (++handled === 50) all.resolve();
      return Promise.resolve();
    },
  }, {
    commit: () => Promise.resolve(),
    fatal: (error) => {
      throw error;
    },
  });
  lanes.reset([0], Promise.resolve());
  for (let offset = 0n; offset < 50n; offset++) {
    lanes.push({ partition: 0, offset, value: new Uint8Array(1) });
  }
  setTimeout(() => handledWhenTimerRan = handled, 0);
  await all.promise;
  await lanes.hold();
  ok(
    handledWhenTimerRan >= 0 && handledWhenTimerRan < 50,
    `the timer ran only after all 50 messages (${handledWhenTimerRan})`,
  );
});

Deno.test("a commit due while the last one is still out is not waited for: the lane goes on, one commit out at a time, in order", async () => {
  const asked: number[] = [];
  let out = 0;
  let mostOut = 0;
  let handled = 0;
  const answer = Promise.withResolvers<void>();
  const handled600 = Promise.withResolvers<void>();
  const handledAll = Promise.withResolvers<void>();
  const lanes = new PartitionLanes("t", {
    handle: () => {
      if (++handled === 600) handled600.resolve();
      if (handled === 1000) handledAll.resolve();
      return Promise.resolve();
    },
  }, {
    commit: async (_partition, point) => {
      asked.push(Number(point.offset));
      mostOut = Math.max(mostOut, ++out);
      // Kafka answers the first commit only when the test says so.
      if (point.offset === String(COMMIT_EVERY_MESSAGES)) await answer.promise;
      out--;
    },
    fatal: (error) => {
      throw error;
    },
  });
  lanes.reset([0], Promise.resolve());
  for (let offset = 0n; offset < 1000n; offset++) {
    lanes.push({ partition: 0, offset, value: new Uint8Array(1) });
  }
  // A lane that waited for the answer would stop at message 400 for good:
  // give up on it after a while rather than hang.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, 2000);
  });
  await Promise.race([handled600.promise, stalled]);
  clearTimeout(timer);
  ok(handled >= 600, `the lane waited for Kafka at message ${handled}`);
  deepStrictEqual(asked, [COMMIT_EVERY_MESSAGES]);
  answer.resolve();
  await handledAll.promise;
  await lanes.hold();

  deepStrictEqual(mostOut, 1);
  ok(
    asked.every((offset, i) => i === 0 || offset > asked[i - 1]),
    `commits out of order: ${asked}`,
  );
  deepStrictEqual(asked.at(-1), 1000);
});

Deno.test("a message that comes just as a lane's worker ends (at any promise step after its last commit is answered) is still handled", async () => {
  // The client's stream hands over messages from promise steps, so a message
  // can come between the worker's last check of its queue and its end.
  // Each depth is one more promise step after the commit's answer.
  const stranded: number[] = [];
  for (let depth = 0; depth < 24; depth++) {
    const events: string[] = [];
    const answer = Promise.withResolvers<void>();
    const second = Promise.withResolvers<void>();
    const lanes = lanesWithSlowCommit(events, "1", answer.promise, (where) => {
      if (where.offset === "1") second.resolve();
    });
    pushOffsets(lanes, 0n, 1n);
    while (!events.includes("commit 1")) await sleep(1);
    answer.resolve();
    for (let step = 0; step < depth; step++) await Promise.resolve();
    pushOffsets(lanes, 1n, 2n);
    const late = await Promise.race([
      second.promise.then(() => false),
      sleep(2000).then(() => true),
    ]);
    if (late) stranded.push(depth);
    await lanes.hold();
  }
  deepStrictEqual(stranded, [], "depths whose message was never handled");
});

Deno.test("a consumer's stream is told the lanes drained even when the level moved above what waits while it was paused", async () => {
  // The level is a consumer's fetch size, which grows when the run's other
  // consumers go idle: what waits may then already be below it.
  let level = 300;
  let drainedCalls = 0;
  const lastHandled = Promise.withResolvers<void>();
  const lanes = new PartitionLanes("t", {
    handle: (_value, where) => {
      if (where.offset === "3") level = 1000;
      if (where.offset === "9") lastHandled.resolve();
      return Promise.resolve();
    },
  }, {
    commit: () => Promise.resolve(),
    fatal: (error) => {
      throw error;
    },
    drained: () => drainedCalls++,
    get drainedBytes() {
      return level;
    },
  });
  lanes.reset([0], Promise.resolve());
  // 1000 bytes wait: a paused stream waits to hear they fell below the level.
  pushOffsets(lanes, 0n, 10n, 100);
  await lastHandled.promise;
  await lanes.hold();
  ok(drainedCalls > 0, "the stream would stay paused for good");
});
