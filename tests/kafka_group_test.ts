/**
 * Several reconstruct_data_files in one consumer group, each with its own
 * WORKINGDIR (as on several machines), against a real broker: the files of a
 * topic are shared out and rebuilt once, a member killed with SIGKILL leaves
 * its unfinished files to the others, a member that joins late takes over
 * partitions, and files spread over partitions are rebuilt once (through the
 * group's repartition topic).
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  chunkKey,
  encodeChunk,
  filePartOfKey,
  sha512,
  toHex,
} from "../lib/transfer/chunk.ts";
import { javaKeyHash } from "../lib/kafka/chunk_producer.ts";
import { createKafka } from "../lib/kafka/client.ts";
import { parseKafkaConfig } from "../lib/kafka/config.ts";
import { Logger } from "../lib/common/log.ts";
import { joinNotice } from "../lib/transfer/reconstructor.ts";
import {
  createTopic,
  makeChunks,
  produceRaw,
  Reconstructor,
  sha512File,
  startTestBroker,
  uniqueTopic,
  writeRandomFile,
  writeTestConfig,
} from "./helpers/kafka.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";

const CHUNK = 1024;
const PARTITIONS = 6;

/** A group run: a topic, its uploaded files and the members' folders. */
interface GroupRun {
  config: string;
  topic: string;
  group: string;
  source: string;
  /** name -> SHA-512 of the original. */
  files: Map<string, string>;
}

/** Writes `count` random files of `size` bytes (distinct contents) into a fresh source folder. */
async function prepare(
  dir: string,
  config: string,
  name: string,
  count: number,
  size: number,
): Promise<GroupRun> {
  const topic = uniqueTopic(name);
  const source = `${dir}/${name}-source`;
  await Deno.mkdir(`${ROOT}${source}`, { recursive: true });
  const files = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const file = `f${String(i).padStart(2, "0")}.bin`;
    await writeRandomFile(`${ROOT}${source}/${file}`, size, size + i);
    files.set(file, await sha512File(`${ROOT}${source}/${file}`));
  }
  return { config, topic, group: `${name}-group`, source, files };
}

/** The partition (of `PARTITIONS`) the uploaders send a top-level file to. */
function partitionOf(name: string): number {
  const key = chunkKey({
    subdir: "",
    filename: name,
    chunkIndex: 1,
    totalChunks: 1,
  });
  return javaKeyHash(filePartOfKey(key)) % PARTITIONS;
}

/**
 * `count` of `names`, at least one on each partition, so that whichever
 * partitions a member owns, some of these files are its to rebuild.
 */
function onEveryPartition(names: string[], count: number): string[] {
  const chosen = new Set<string>();
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const name = names.find((n) => partitionOf(n) === partition);
    if (name === undefined) {
      throw new Error(`no file on partition ${partition}`);
    }
    chosen.add(name);
  }
  for (const name of names) if (chosen.size < count) chosen.add(name);
  return [...chosen];
}

/** Uploads the named files (all by default) of a run's source folder. */
async function upload(run: GroupRun, names = [...run.files.keys()]) {
  const result = await runTask("upload_data_file", [
    "--config",
    run.config,
    "--topic_name",
    run.topic,
    "--chunk_size",
    String(CHUNK),
    ...names.map((name) => `${run.source}/${name}`),
  ]);
  deepStrictEqual(result.code, 0, result.stderr);
}

/** Starts one member of the run's group into `workingDir`. */
function member(run: GroupRun, workingDir: string): Reconstructor {
  return Reconstructor.start(run.config, run.topic, workingDir, [
    "--consumer_group_ID",
    run.group,
    "--n_threads",
    "2",
  ]);
}

/** The partitions a member says it owns, asked with `check`. */
async function ownedPartitions(task: Reconstructor): Promise<number[]> {
  const before = task.stdout.text.length;
  await task.type("check");
  const pattern = /owns partition\(s\) ([\d,]+|none);/;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !task.exited) {
    const found = task.stdout.text.slice(before).match(pattern);
    if (found) {
      return found[1] === "none" ? [] : found[1].split(",").map(Number);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `no answer to check:\n${task.stdout.text}\n${task.stderr.text}`,
  );
}

/** Types `check` until its share line matches `pattern`. */
async function shareSettles(task: Reconstructor, pattern: RegExp) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const before = task.stdout.text.length;
    await ownedPartitions(task);
    if (pattern.test(task.stdout.text.slice(before))) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`check never showed ${pattern}:\n${task.stdout.text}`);
}

/** Waits until the members together own every partition, each at least one. */
async function waitUntilShared(
  members: Reconstructor[],
  partitions = PARTITIONS,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const owned = await Promise.all(members.map(ownedPartitions));
    const all = new Set(owned.flat());
    if (all.size === partitions && owned.every((o) => o.length > 0)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("the members never shared the partitions");
}

/** The rebuilt files in a WORKINGDIR (state folder left out). */
async function rebuiltIn(workingDir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}${workingDir}`)) {
    if (entry.isFile) names.push(entry.name);
  }
  return names.sort();
}

/** The files a reconstructor's record says it had started and not finished. */
function unfinishedIn(workingDir: string): string[] {
  const db = new DatabaseSync(
    `${ROOT}${workingDir}/.reconstruct_data_files/state.db`,
    { readOnly: true },
  );
  try {
    return (db.prepare(
      "SELECT relative_path FROM files WHERE outcome IS NULL",
    ).all() as { relative_path: string }[]).map((row) => row.relative_path);
  } finally {
    db.close();
  }
}

/** Waits until every file of the run is in at least one of `dirs`. */
async function waitForAll(run: GroupRun, dirs: string[]): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const found = new Set((await Promise.all(dirs.map(rebuiltIn))).flat());
    if ([...run.files.keys()].every((name) => found.has(name))) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error("not every file was rebuilt in time");
}

/** Every file in `dirs` is one of the run's and identical to its original. */
async function assertIdentical(run: GroupRun, dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    for (const name of await rebuiltIn(dir)) {
      deepStrictEqual(
        await sha512File(`${ROOT}${dir}/${name}`),
        run.files.get(name),
        `${dir}/${name}`,
      );
    }
  }
}

/** How often each member logged each file as rebuilt: at most once each. */
function assertRebuiltOncePerMember(outputs: string[]): void {
  for (const output of outputs) {
    const lines = [...output.matchAll(/File (\S+) successfully reconstructed/g)]
      .map((m) => m[1]);
    deepStrictEqual(lines.length, new Set(lines).size, output);
  }
}

Deno.test("reconstructors in one consumer group share a topic file by file", async (t) => {
  const broker = await startTestBroker();
  const dir = await makeOutTempDir("group");
  const config = await writeTestConfig(dir, broker.bootstrap);
  try {
    await t.step(
      "three members rebuild 30 files, each exactly once, identical, at least two members working",
      async () => {
        const run = await prepare(dir, config, "three", 30, 20 * 1024);
        await createTopic(broker.bootstrap, run.topic, PARTITIONS);
        const dirs = [0, 1, 2].map((i) => `${dir}/three-member${i}`);
        const members = dirs.map((d) => member(run, d));
        await waitUntilShared(members);
        await upload(run);
        await waitForAll(run, dirs);
        // Once every file is in place, the group has committed past all.
        await shareSettles(
          members[0],
          /0 file\(s\) in progress; group lag 0 message/,
        );
        const outputs = await Promise.all(members.map((m) => m.quit()));
        for (const out of outputs) deepStrictEqual(out.code, 0, out.stderr);
        const found = await Promise.all(dirs.map(rebuiltIn));
        deepStrictEqual(found.flat().sort(), [...run.files.keys()].sort());
        ok(
          found.filter((names) => names.length > 0).length >= 2,
          String(found),
        );
        await assertIdentical(run, dirs);
        assertRebuiltOncePerMember(outputs.map((o) => o.stdout));
      },
    );

    await t.step(
      "a member killed with SIGKILL mid-file: the others finish its files whole, nothing lost or doubled",
      async () => {
        const run = await prepare(dir, config, "kill", 12, 300 * 1024);
        await createTopic(broker.bootstrap, run.topic, PARTITIONS);
        const dirs = [0, 1, 2].map((i) => `${dir}/kill-member${i}`);
        const members = dirs.map((d) => member(run, d));
        await waitUntilShared(members);
        const uploading = upload(run);
        // Killed as soon as it has a file half written.
        const partial = `${ROOT}${dirs[0]}/.reconstruct_data_files/partial`;
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline) {
          const parts = [];
          for await (const e of Deno.readDir(partial)) parts.push(e.name);
          if (parts.length > 0) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        await members[0].kill();
        const finishedByKilled = await rebuiltIn(dirs[0]);
        const unfinished = unfinishedIn(dirs[0]);
        ok(unfinished.length > 0, "the killed member had no file half done");
        await uploading;
        const survivors = dirs.slice(1);
        await waitForAll(run, survivors.concat(dirs[0]));
        const outputs = await Promise.all(
          members.slice(1).map((m) => m.quit()),
        );
        for (const out of outputs) deepStrictEqual(out.code, 0, out.stderr);
        ok(finishedByKilled.length < run.files.size);
        await assertIdentical(run, dirs);
        assertRebuiltOncePerMember(outputs.map((o) => o.stdout));
        // A file in two folders only if the killed member had finished it.
        const [a, b] = await Promise.all(survivors.map(rebuiltIn));
        deepStrictEqual(a.filter((name) => b.includes(name)), []);
        for (const name of run.files.keys()) {
          if (!a.includes(name) && !b.includes(name)) {
            ok(finishedByKilled.includes(name), `${name} lost`);
          }
        }
        // What it had half done, the others finished.
        for (const name of unfinished) {
          ok(a.includes(name) || b.includes(name), `${name} not finished`);
        }
      },
    );

    await t.step(
      "a member added mid-run takes over partitions and nothing is lost",
      async () => {
        const run = await prepare(dir, config, "added", 24, 100 * 1024);
        await createTopic(broker.bootstrap, run.topic, PARTITIONS);
        const names = [...run.files.keys()];
        const dirs = [0, 1].map((i) => `${dir}/added-member${i}`);
        const first = member(run, dirs[0]);
        // The files sent after the second member joined lie on every
        // partition: whichever it owns, some of them are its (eight names
        // alone can all hash to the first member's partitions).
        const later = onEveryPartition(names, 8);
        const earlier = names.filter((n) => !later.includes(n)).slice(0, 8);
        for (const name of names) {
          if (!later.includes(name) && !earlier.includes(name)) {
            run.files.delete(name);
          }
        }
        await waitUntilShared([first]);
        await upload(run, earlier);
        const second = member(run, dirs[1]);
        await waitUntilShared([first, second]);
        await upload(run, later);
        await waitForAll(run, dirs);
        const outputs = [await first.quit(), await second.quit()];
        for (const out of outputs) deepStrictEqual(out.code, 0, out.stderr);
        await assertIdentical(run, dirs);
        assertRebuiltOncePerMember(outputs.map((o) => o.stdout));
        const [a, b] = await Promise.all(dirs.map(rebuiltIn));
        deepStrictEqual(a.filter((name) => b.includes(name)), []);
        ok(b.length > 0, "the added member rebuilt nothing");
      },
    );

    await t.step(
      "chunks spread over partitions (no header saying otherwise): a group of two rebuilds the file once, through its repartition topic",
      async () => {
        const topic = uniqueTopic("spread");
        const bytes = new Uint8Array(40 * CHUNK).map((_, i) => i * 7);
        const chunks = makeChunks(bytes, "spread.bin", CHUNK).map(encodeChunk);
        await createTopic(broker.bootstrap, topic, 2);
        const dirs = [0, 1].map((i) => `${dir}/spread-member${i}`);
        const members = dirs.map((d) =>
          Reconstructor.start(config, topic, d, [
            "--consumer_group_ID",
            "spread-group",
            "--n_threads",
            "1",
          ])
        );
        await waitUntilShared(members, 2);
        await produceRaw(broker.bootstrap, topic, chunks, undefined, 2);
        const run: GroupRun = {
          config,
          topic,
          group: "spread-group",
          source: "",
          files: new Map([["spread.bin", toHex(sha512(bytes))]]),
        };
        await waitForAll(run, dirs);
        await shareSettles(
          members[0],
          /0 file\(s\) in progress; group lag 0 message/,
        );
        const outputs = await Promise.all(members.map((m) => m.quit()));
        for (const out of outputs) deepStrictEqual(out.code, 0, out.stderr);
        const found = await Promise.all(dirs.map(rebuiltIn));
        deepStrictEqual(found.flat(), ["spread.bin"]);
        await assertIdentical(run, dirs);
      },
    );
  } finally {
    await broker.stop();
  }
});

Deno.test("the join notice blames a killed run only when the group still lists one", async () => {
  const broker = await startTestBroker();
  const dir = await makeOutTempDir("join-notice");
  const config = await writeTestConfig(dir, broker.bootstrap);
  try {
    const topic = uniqueTopic("join_notice");
    await createTopic(broker.bootstrap, topic, 1);

    // A brand-new group: nothing was killed, and the notice says nothing so.
    const newGroup = `new-${crypto.randomUUID()}`;
    const logFile = `${ROOT}${dir}/notice.log`;
    const log = new Logger({ console: "none", tee: logFile });
    const kafka = createKafka(
      parseKafkaConfig(
        `[cluster]\nbootstrap.servers = ${broker.bootstrap}\n`,
        "test",
        () => undefined,
      ),
    );
    const cancel = await joinNotice(log, kafka, newGroup);
    let notice = "";
    for (let tries = 0; notice === "" && tries < 100; tries++) {
      await new Promise((r) => setTimeout(r, 100));
      notice = await Deno.readTextFile(logFile);
    }
    cancel();
    log.close();
    ok(
      notice.includes(
        `Waiting to join group ${newGroup}: Kafka is still handing out its partitions`,
      ),
      notice,
    );
    ok(!/killed|another run/.test(notice), notice);

    // A group whose last run was killed: the next run says why it waits.
    const group = ["--consumer_group_ID", `killed-${crypto.randomUUID()}`];
    const doomed = Reconstructor.start(config, topic, `${dir}/a`, group);
    await doomed.stdout.waitFor("Reading topic");
    await doomed.kill();
    const next = Reconstructor.start(config, topic, `${dir}/b`, group);
    await next.stdout.waitFor(
      /Waiting to join group killed-\S+: it still lists 1 consumer\(s\) of another run, which Kafka drops first if that run was killed/,
    );
    await next.stdout.waitFor("Reading topic");
    deepStrictEqual((await next.quit()).code, 0);
  } finally {
    await broker.stop();
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});
