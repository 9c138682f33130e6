/**
 * The commit rules of a reconstructor in a consumer group: never past an
 * unfinished file, finished files handed to the next owner in the metadata,
 * files of a lost partition given up.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { PartitionFiles } from "../lib/transfer/partition_files.ts";

const A = { key: "a".repeat(40), relativePath: "a.bin" };
const B = { key: "b".repeat(40), relativePath: "b.bin" };

Deno.test("commits stop at the oldest unfinished file and carry the younger finished ones to the next owner", () => {
  const owner = new PartitionFiles();
  owner.assign([0, 1], new Map());
  owner.unfinished(0, "10", A);
  owner.unfinished(0, "12", B);
  owner.finished(0, "15", B.key);
  const held = owner.commitPoint(0, "16");
  deepStrictEqual(held.offset, "10");
  ok(held.metadata?.includes(B.key.slice(0, 16)), String(held.metadata));
  ok(!held.metadata?.includes(A.key.slice(0, 16)));
  // Partition 1 holds no file: its commit goes to the end.
  deepStrictEqual(owner.commitPoint(1, "7"), { offset: "7", metadata: null });

  // The next owner reads from offset 10: A is rebuilt, B skipped.
  const next = new PartitionFiles();
  next.assign([0], new Map([[0, held.metadata]]));
  ok(!next.finishedBefore(0, "10", A.key));
  next.unfinished(0, "10", A);
  ok(next.finishedBefore(0, "12", B.key));
  ok(next.finishedBefore(0, "15", B.key));
  deepStrictEqual(next.commitPoint(0, "16").offset, "10");
  next.finished(0, "17", A.key);
  deepStrictEqual(next.commitPoint(0, "18"), { offset: "18", metadata: null });
});

Deno.test("a lost partition gives up its open files; one still open elsewhere is kept", () => {
  const files = new PartitionFiles();
  files.assign([0, 1], new Map());
  files.unfinished(0, "3", A);
  files.unfinished(0, "4", B);
  files.unfinished(1, "9", B);
  const change = files.assign([1, 2], new Map());
  deepStrictEqual(change.lost, [A]);
  deepStrictEqual(change.lostPartitions, [0]);
  deepStrictEqual(change.gainedPartitions, [2]);
  ok(files.isOpen(B.key));
  deepStrictEqual(files.commitPoint(1, "20").offset, "9");
});

Deno.test("on the repartition topic a finished file stays named after the commit passed it, so a chunk forwarded again is skipped by the next owner", () => {
  const owner = new PartitionFiles({ rememberFinished: true });
  owner.assign([0], new Map());
  owner.unfinished(0, "10", A);
  owner.finished(0, "11", A.key);
  const point = owner.commitPoint(0, "12");
  deepStrictEqual(point.offset, "12");
  ok(point.metadata?.includes(A.key.slice(0, 16)), String(point.metadata));
  // A chunk of A forwarded twice (after a crash) lands past the commit.
  const next = new PartitionFiles({ rememberFinished: true });
  next.assign([0], new Map([[0, point.metadata]]));
  ok(next.finishedBefore(0, "30", A.key));
  ok(!next.finishedBefore(0, "31", B.key));
  // Without it (the source topic) the name goes once the commit passed it.
  const plain = new PartitionFiles();
  plain.assign([0], new Map());
  plain.unfinished(0, "10", A);
  plain.finished(0, "11", A.key);
  deepStrictEqual(plain.commitPoint(0, "12"), { offset: "12", metadata: null });
});

Deno.test("an open file silent for the bound is given up and no longer holds the commit", async () => {
  const files = new PartitionFiles();
  files.assign([0], new Map());
  files.unfinished(0, "5", A);
  files.unfinished(0, "6", B);
  deepStrictEqual(files.commitPoint(0, "7").offset, "5");
  deepStrictEqual(files.expire(60_000), []);
  await new Promise((r) => setTimeout(r, 30));
  files.unfinished(0, "8", B); // B just got a chunk: it stays.
  deepStrictEqual(files.expire(20), [A]);
  deepStrictEqual(files.commitPoint(0, "9").offset, "6");
});
