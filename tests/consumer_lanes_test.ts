/**
 * The order a partition's lane keeps between handling, committing and the
 * work deferred to after a commit (a rebuilt file is moved into place only
 * once the commit naming it finished was sent), without a broker: the lane's
 * commits are recorded as they are asked for.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import {
  COMMIT_EVERY_DEFERRED,
  PartitionLanes,
} from "../lib/kafka/consumer_loop.ts";

Deno.test("work deferred by 100 messages runs only after a commit past each message, one commit for each 32", async () => {
  const events: string[] = [];
  const failures: Error[] = [];
  const last = Promise.withResolvers<void>();
  const lanes = new PartitionLanes("t", {
    handle: (_value, where) => {
      events.push(`handle ${where.offset}`);
      where.afterCommit!(() => {
        events.push(`place ${where.offset}`);
        if (where.offset === "99") last.resolve();
        return Promise.resolve();
      });
      return Promise.resolve();
    },
  }, {
    commit: (_partition, point) => {
      events.push(`commit ${point.offset}`);
      return Promise.resolve();
    },
    fatal: (error) => {
      failures.push(error);
      last.resolve(); // Fails below rather than waiting forever.
    },
  });
  lanes.reset([0], Promise.resolve());
  for (let offset = 0n; offset < 100n; offset++) {
    lanes.push({ partition: 0, offset, value: new Uint8Array(1) });
  }
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
  const events: string[] = [];
  const failures: Error[] = [];
  const failed = Promise.withResolvers<void>();
  const lanes = new PartitionLanes("t", {
    handle: (_value, where) => {
      where.afterCommit!(() => {
        if (where.offset === "3") return Promise.reject(new Error("disk"));
        events.push(`place ${where.offset}`);
        return Promise.resolve();
      });
      return Promise.resolve();
    },
  }, {
    commit: (_partition, point) => {
      events.push(`commit ${point.offset}`);
      return Promise.resolve();
    },
    fatal: (error) => {
      failures.push(error);
      failed.resolve();
    },
  });
  lanes.reset([0], Promise.resolve());
  for (let offset = 0n; offset < 40n; offset++) {
    lanes.push({ partition: 0, offset, value: new Uint8Array(1) });
  }
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
