/**
 * A real 3-node local cluster (`deno task kafka start --nodes 3`): replicated
 * topics, a node killed with SIGKILL in the middle of an upload and a
 * reconstruction, the whole cluster stopped and started again, and a stale
 * pid file that must not get an unrelated process killed.
 */
import { deepStrictEqual, match, ok } from "node:assert/strict";
import { BackgroundTask } from "./helpers/background_task.ts";
import {
  countMessages,
  Reconstructor,
  sha512File,
  topicArgs,
  uniqueTopic,
  writeRandomFile,
  writeTestConfig,
} from "./helpers/kafka.ts";
import {
  CLUSTER_PORT,
  describeTopic,
  TestCluster,
} from "./helpers/kafka_cluster.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";
import { describeDiskUse } from "../lib/kafka/cluster_storage.ts";

/** Several files, small chunks: an upload that lasts a few seconds. */
const FILES = 6;
const FILE_SIZE = 1_000_000;
const CHUNK = 2048;
const CHUNKS_PER_FILE = Math.ceil(FILE_SIZE / CHUNK);

/** Writes the test files into `dir/name` and returns [relative name, size]. */
async function writeFiles(
  dir: string,
  name: string,
  seed: number,
): Promise<[string, number][]> {
  await Deno.mkdir(`${ROOT}${dir}/${name}`, { recursive: true });
  const files: [string, number][] = [];
  for (let i = 0; i < FILES; i++) {
    const file = `file${i}.bin`;
    await writeRandomFile(`${ROOT}${dir}/${name}/${file}`, FILE_SIZE, seed + i);
    files.push([file, FILE_SIZE]);
  }
  return files;
}

/** Files to send, and a reconstructor already reading their (new) topic. */
async function prepareTransfer(config: string, dir: string, name: string) {
  const topic = uniqueTopic(name);
  const files = await writeFiles(dir, name, name.length * 100);
  const rebuilt = `${dir}/${name}-rebuilt`;
  // The reconstructor creates the topic: 3 replicas, 2 must be in sync.
  const reconstructor = Reconstructor.start(config, topic, rebuilt);
  await reconstructor.stdout.waitFor("Reading topic");
  return { topic, files, source: `${dir}/${name}`, rebuilt, reconstructor };
}

/** upload_data_file's arguments for `source` in small chunks. */
function uploadArgs(config: string, topic: string, source: string): string[] {
  return [...topicArgs(config, topic, CHUNK), source];
}

/** Starts upload_data_file in the background; returns once a quarter is on the topic. */
async function startUpload(
  config: string,
  topic: string,
  source: string,
  cluster: TestCluster,
): Promise<BackgroundTask> {
  const upload = new BackgroundTask(
    "upload_data_file",
    uploadArgs(config, topic, source),
  );
  await waitForMessages(
    cluster.bootstrap,
    topic,
    (FILES * CHUNKS_PER_FILE) / 4,
    upload,
  );
  return upload;
}

/** Waits for a background upload to end; returns its exit code and output. */
async function finished(task: BackgroundTask) {
  const { code } = await task.child.status;
  return {
    code,
    output: (await task.stdout.all()) + (await task.stderr.all()),
  };
}

/** Waits until `topic` holds at least `count` messages. */
async function waitForMessages(
  bootstrap: string,
  topic: string,
  count: number,
  upload: BackgroundTask,
): Promise<void> {
  // A topic that was just created may not have its leaders yet: ask again.
  while (await countMessages(bootstrap, topic).catch(() => 0) < count) {
    if (upload.exited) throw new Error("the upload ended before the kill");
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every rebuilt file has the original's SHA-512. */
async function assertSameFiles(
  source: string,
  rebuilt: string,
  files: [string, number][],
): Promise<void> {
  for (const [name] of files) {
    deepStrictEqual(
      await sha512File(`${ROOT}${rebuilt}/${name}`),
      await sha512File(`${ROOT}${source}/${name}`),
      name,
    );
  }
}

/** Waits (up to 60 s) until every partition of `topic` is in sync on all replicas. */
async function waitForFullIsr(bootstrap: string, topic: string) {
  const deadline = Date.now() + 60_000;
  while (true) {
    const { partitions } = await describeTopic(bootstrap, topic);
    if (partitions.every((p) => p.isr.length === p.replicas.length)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `replicas never caught up: ${JSON.stringify(partitions)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

Deno.test("a 3-node cluster keeps every file when a node is killed or the whole cluster restarts", async (t) => {
  const { cluster } = await TestCluster.fresh(CLUSTER_PORT, 3);
  const dir = await makeOutTempDir("cluster");
  const config = await writeTestConfig(dir, cluster.bootstrap);
  try {
    await t.step(
      "status prints one line per node, each up with its pid, then the folder's disk use",
      async () => {
        const status = await cluster.kafka(["status"]);
        deepStrictEqual(status.code, 0, status.stderr);
        const lines = status.stdout.trim().split("\n");
        deepStrictEqual(lines.length, 4, status.stdout);
        match(
          lines[3],
          new RegExp(
            `^\\.kafka/${CLUSTER_PORT} holds [\\d.]+ MB; [\\d.]+ GB free on its disk\\.$`,
          ),
        );
        for (let node = 0; node < 3; node++) {
          match(
            lines[node],
            new RegExp(
              `^node ${node}  127\\.0\\.0\\.1:${
                CLUSTER_PORT + 2 * node
              }  pid ${await cluster.pid(node)}  up `,
            ),
          );
        }
      },
    );

    await t.step(
      "a node killed with SIGKILL mid-upload and mid-reconstruction: Done, every file identical, the node rejoins",
      async () => {
        const { topic, files, source, rebuilt, reconstructor } =
          await prepareTransfer(config, dir, "kill");
        const { partitions, minInSync } = await describeTopic(
          cluster.bootstrap,
          topic,
        );
        ok(partitions.every((p) => p.replicas.length === 3));
        deepStrictEqual(minInSync, 2);
        assertIncludes(
          reconstructor.stdout.text,
          "3 replica(s), min.insync.replicas 2",
        );

        const upload = await startUpload(config, topic, source, cluster);
        // Kill the group coordinator's node (the leader of the one
        // __consumer_offsets partition): the reconstructor loses its
        // coordinator and some partition leaders, the upload some leaders.
        const offsets = await describeTopic(
          cluster.bootstrap,
          "__consumer_offsets",
        );
        const victim = offsets.partitions[0].leader - 1;
        ok(
          partitions.some((p) => p.leader === victim + 1),
          "it leads a partition",
        );
        Deno.kill(await cluster.pid(victim), "SIGKILL");

        const result = await finished(upload);
        deepStrictEqual(result.code, 0, result.output);
        assertIncludes(result.output, "Done!");
        const restarted = await cluster.kafka([
          "start",
          "--node",
          String(victim),
        ]);
        deepStrictEqual(restarted.code, 0, restarted.stderr);
        await waitForFullIsr(cluster.bootstrap, topic);
        await reconstructor.waitForFiles(
          files.map(([name, size]) => [`${rebuilt}/${name}`, size]),
        );
        ok(!reconstructor.exited, "the reconstructor went on");
        const run = await reconstructor.quit();
        deepStrictEqual(run.code, 0, run.stdout + run.stderr);
        await assertSameFiles(source, rebuilt, files);
      },
    );

    await t.step(
      "two nodes lost mid-upload (frozen, as behind a cut cable): a warning while the upload is stalled, Done once they are back",
      async () => {
        const topic = uniqueTopic("stall");
        const files = await writeFiles(dir, "stall", 700);
        const upload = new BackgroundTask("upload_data_file", [
          ...uploadArgs(config, topic, `${dir}/stall`),
          "--retry_seconds",
          "300",
        ]);
        // The upload is held still while two nodes freeze, so they are lost
        // mid-upload however fast the upload would have been done.
        await upload.stderr.waitFor(/Uploading \d+ file\(s\)/);
        Deno.kill(upload.child.pid, "SIGSTOP");
        // Frozen nodes close no connection: requests to them, and node 0's
        // waits for their replicas, go unanswered until the timeouts end.
        const lost = [await cluster.pid(1), await cluster.pid(2)];
        for (const pid of lost) Deno.kill(pid, "SIGSTOP");
        Deno.kill(upload.child.pid, "SIGCONT");
        try {
          await upload.stderr.waitFor(/WARNING: Kafka did not acknowledge/);
          ok(!upload.exited, "the warning came while the upload was stalled");
        } finally {
          for (const pid of lost) Deno.kill(pid, "SIGCONT");
        }
        const result = await finished(upload);
        deepStrictEqual(result.code, 0, result.output);
        assertIncludes(result.output, "Kafka acknowledges chunks again");
        assertIncludes(result.output, "Done!");
        ok(
          await countMessages(cluster.bootstrap, topic) >=
            files.length * CHUNKS_PER_FILE,
          "every chunk is on the topic",
        );
        await waitForFullIsr(cluster.bootstrap, topic);
      },
    );

    await t.step(
      "the whole cluster stopped for a few seconds mid-upload: the upload ends Done or names the missing chunks, a rerun completes, nothing is corrupt",
      async () => {
        const { topic, files, source, rebuilt, reconstructor } =
          await prepareTransfer(config, dir, "restart");
        const upload = await startUpload(config, topic, source, cluster);
        deepStrictEqual((await cluster.kafka(["stop"])).code, 0);
        await new Promise((r) => setTimeout(r, 3000));
        const started = await cluster.kafka(["start"]);
        deepStrictEqual(started.code, 0, started.stderr);

        const first = await finished(upload);
        if (first.code !== 0) {
          deepStrictEqual(first.code, 1, first.output);
          match(
            first.output,
            /upload_data_file: error: \d+ chunk\(s\) were not acknowledged by Kafka/,
          );
          ok(!first.output.includes("    at "), "no stack trace");
          const rerun = await runTask(
            "upload_data_file",
            uploadArgs(config, topic, source),
          );
          deepStrictEqual(rerun.code, 0, rerun.stderr);
        } else {
          assertIncludes(first.output, "Done!");
        }
        await reconstructor.finish(
          files.map(([name, size]) => [`${rebuilt}/${name}`, size]),
        );
        await assertSameFiles(source, rebuilt, files);
      },
    );

    await t.step(
      "SASL against a cluster without SASL is a one-line error",
      async () => {
        const saslConfig = `${dir}/sasl.config`;
        await Deno.writeTextFile(
          `${ROOT}${saslConfig}`,
          `[cluster]\nbootstrap.servers = ${cluster.bootstrap}\nsecurity.protocol = SASL_PLAINTEXT\nsasl.mechanism = SCRAM-SHA-512\nsasl.username = someone\nsasl.password = something\n`,
        );
        const run = await runTask("upload_data_file", [
          "--config",
          saslConfig,
          "deno.json",
        ]);
        deepStrictEqual(run.code, 1, run.stderr);
        match(
          run.stderr,
          /^upload_data_file: error: .* refused the SASL login \(ILLEGAL_SASL_STATE\).*security\.protocol.*\n$/,
        );
      },
    );
  } finally {
    await cluster.stop();
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

Deno.test("kafka stop leaves alone a process that a stale pid file names", async () => {
  // A port of the range where no broker runs: only a pid file is there.
  const port = String(CLUSTER_PORT + 6);
  const dir = `${ROOT}.kafka/${port}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    await Deno.writeTextFile(`${dir}/broker.pid`, String(sleeper.pid));
    const run = await runTask("kafka", ["stop", "--port", port]);
    deepStrictEqual(run.code, 0, run.stderr);
    assertIncludes(
      run.stdout,
      `was not running (its pid file named pid ${sleeper.pid}, another process, left alone)`,
    );
    const status = await Promise.race([
      sleeper.status.then(() => "ended"),
      new Promise((r) => setTimeout(() => r("alive"), 500)),
    ]);
    deepStrictEqual(status, "alive");
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
    await Deno.remove(dir, { recursive: true });
  }
});

function assertIncludes(text: string, part: string): void {
  ok(text.includes(part), `expected ${JSON.stringify(part)} in:\n${text}`);
}

Deno.test("kafka status says what the folder holds and its disk has left; kafka wipe stops the broker and removes the folder; a second wipe finds nothing; --node is refused", async () => {
  // A one-node broker of its own, on ports of the cluster range left free.
  const port = CLUSTER_PORT + 8;
  const { cluster } = await TestCluster.fresh(port, 1);
  try {
    const folder = `${ROOT}${cluster.dir}`;
    ok((await Deno.stat(`${folder}/data`)).isDirectory);
    // status says what the folder holds and what its disk has left.
    const before = await cluster.kafka(["status"]);
    deepStrictEqual(before.code, 0, before.stderr);
    match(
      before.stdout,
      new RegExp(
        `\\.kafka/${port} holds [1-9][\\d.]* MB; [\\d.]+ GB free on its disk\\.`,
      ),
    );
    const refused = await cluster.kafka(["wipe", "--node", "0"]);
    deepStrictEqual(refused.code, 2);
    match(refused.stderr, /wipe removes the whole cluster: leave out --node/);
    const wiped = await cluster.kafka(["wipe"]);
    deepStrictEqual(wiped.code, 0, wiped.stderr);
    assertIncludes(wiped.stdout, `Kafka node 0 on 127.0.0.1:${port} stopped.`);
    match(
      wiped.stdout,
      new RegExp(
        `Removed \\.kafka/${port} \\([\\d.]+ MB of topics, logs and settings\\); the next start begins empty\\.`,
      ),
    );
    deepStrictEqual(
      await Deno.stat(folder).then(() => "there", () => "gone"),
      "gone",
    );
    const status = await cluster.kafka(["status"]);
    deepStrictEqual(status.code, 3); // down
    const again = await cluster.kafka(["wipe"]);
    deepStrictEqual(again.code, 0, again.stderr);
    assertIncludes(
      again.stdout,
      `Nothing to remove: .kafka/${port} does not exist.`,
    );
  } finally {
    await cluster.stop();
    await Deno.remove(`${ROOT}${cluster.dir}`, { recursive: true }).catch(
      () => {},
    );
  }
});

Deno.test("the disk line of kafka status, and its warning when less than 2 GB are free", () => {
  deepStrictEqual(describeDiskUse(".kafka/9092", 1_234_567, 80.46e9), [
    ".kafka/9092 holds 1.2 MB; 80.5 GB free on its disk.",
  ]);
  deepStrictEqual(describeDiskUse(".kafka/9092", 73.1e9, 0.4e9), [
    ".kafka/9092 holds 73100.0 MB; 0.4 GB free on its disk.",
    "warning: only 400 MB free: a broker stops when its disk is full (deno task kafka wipe gives back every topic's space)",
  ]);
});
