/**
 * `deno task bench --members 1,2,3`: rebuild throughput of a consumer group
 * of 1, 2, 3... reconstruct_data_files, each with its own WORKINGDIR (as on
 * several machines), with the CPU each member and the broker used.
 *
 * The files are uploaded once, to a topic with as many partitions as the
 * largest group can share; every group reads that topic from the start
 * under a fresh group id. Time runs from the members' start to the last file
 * in place in any member's folder; every rebuilt file is checked against the
 * original's SHA-512.
 *
 * @example
 * ```ts
 * import { rebuildWithMembers } from "./group_runs.ts";
 *
 * const run = await rebuildWithMembers({
 *   config: "local", topic: "bench_group", workDir: "out/bench",
 *   files: new Map([["a.bin", "9f86d0..."]]), totalBytes: 64 * 1024 * 1024,
 * }, 2);
 * console.log(run.mbPerSecond, run.memberCpuPercent);
 * ```
 *
 * @module
 */
import {
  cpuSeconds,
  finishMeasuredReport,
  type MeasuredProcess,
  spawnMeasuredTask,
} from "./process_stats.ts";
import { sha512Hex } from "./tool_runs.ts";
import { LocalCluster } from "../kafka/broker.ts";
import {
  connectAdmin,
  createKafka,
  ensureTopic,
  type KafkaClient,
} from "../kafka/client.ts";
import { type KafkaSettings, loadKafkaConfig } from "../kafka/config.ts";
import { ChunkProducer } from "../kafka/chunk_producer.ts";
import { uploadFile } from "../transfer/upload.ts";
import { writeRandomFile } from "./random_file.ts";

/** What one group run reads and where its members write. */
export interface GroupPlan {
  /** The project's `--config`. */
  config: string;
  /** The topic holding the uploaded files. */
  topic: string;
  /** The members' WORKINGDIRs go under this folder. */
  workDir: string;
  /** File name to SHA-512 (hex) of every file on the topic. */
  files: Map<string, string>;
  /** Bytes of all files together. */
  totalBytes: number;
  /** The broker's pid, to read its CPU time; undefined when not local. */
  brokerPid?: number;
}

/** One group's figures. */
export interface GroupRun {
  /** Members in the group. */
  members: number;
  /** From the members' start to the last file in place. */
  seconds: number;
  /** All files' bytes over `seconds`, in MB/s. */
  mbPerSecond: number;
  /** Each member's CPU (user + system) over its whole run, percent of one core. */
  memberCpuPercent: number[];
  /** Files each member rebuilt. */
  filesPerMember: number[];
  /** The broker's CPU over `seconds`, percent of one core; undefined when not local. */
  brokerCpuPercent?: number;
  /** Every file rebuilt once in the group and identical to its original. */
  identical: boolean;
  /**
   * The files' chunks were spread over partitions (keyed each on its own, as
   * OpenMSIStream sends them), so the group rebuilt them through its
   * repartition topic.
   */
  spread?: boolean;
}

/** How often the members' folders are looked at. */
const POLL_MS = 50;
/** A group that has not finished after this long has failed. */
const GIVE_UP_MS = 15 * 60_000;

/**
 * Starts `members` reconstructors in one fresh group on `plan.topic`, waits
 * until every file is in place in one of their folders, stops them with
 * `quit`, and returns the figures.
 *
 * @example
 * ```ts
 * declare const plan: import("./group_runs.ts").GroupPlan;
 * const three = await rebuildWithMembers(plan, 3);
 * ```
 */
export async function rebuildWithMembers(
  plan: GroupPlan,
  members: number,
): Promise<GroupRun> {
  const group = `bench_group_${members}_${Date.now()}`;
  const dirs = Array.from(
    { length: members },
    (_, i) => `${plan.workDir}/${group}_member${i}`,
  );
  const brokerBefore = plan.brokerPid && await cpuSeconds(plan.brokerPid);
  const started = performance.now();
  const runs: MeasuredProcess[] = [];
  for (const dir of dirs) {
    runs.push(
      await spawnMeasuredTask("reconstruct_data_files", [
        ...["--config", plan.config, "--topic_name", plan.topic],
        ...["--consumer_group_ID", group, "--n_threads", "1"],
        ...["--update_seconds", "-1", dir],
      ]),
    );
  }
  await waitForAll(plan, dirs, runs);
  const seconds = (performance.now() - started) / 1000;
  const brokerAfter = plan.brokerPid && await cpuSeconds(plan.brokerPid);
  const reports = await Promise.all(
    runs.map((run) => finishMeasuredReport(run, { quit: true })),
  );
  const found = await Promise.all(dirs.map(filesIn));
  let identical = found.flat().length === plan.files.size;
  for (const [i, names] of found.entries()) {
    for (const name of names) {
      identical &&= await sha512Hex(`${dirs[i]}/${name}`) ===
        plan.files.get(name);
    }
  }
  for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  return {
    members,
    seconds: Number(seconds.toFixed(2)),
    mbPerSecond: Number((plan.totalBytes / 1e6 / seconds).toFixed(1)),
    memberCpuPercent: reports.map((r) =>
      Math.round(r.cpuSeconds / r.wallSeconds * 100)
    ),
    filesPerMember: found.map((names) => names.length),
    brokerCpuPercent: brokerBefore !== undefined && brokerAfter !== undefined
      ? Math.round((brokerAfter - brokerBefore) / seconds * 100)
      : undefined,
    identical,
  };
}

/**
 * The files moved into place in a reconstructor's folder (its state folder
 * left out); none when the folder is not made yet.
 *
 * @example
 * ```ts
 * import { filesIn } from "./group_runs.ts";
 *
 * const names = await filesIn("out/bench/rebuilt");
 * ```
 */
export async function filesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile) names.push(entry.name);
    }
  } catch {
    // Not made yet: the member has not started writing.
  }
  return names;
}

/** Waits until every file is in some member's folder; fails if a member ends. */
async function waitForAll(
  plan: GroupPlan,
  dirs: string[],
  runs: MeasuredProcess[],
): Promise<void> {
  let ended: string | undefined;
  for (const run of runs) {
    run.finished.then((r) => ended ??= r.stderr, (e) => ended ??= String(e));
  }
  const deadline = Date.now() + GIVE_UP_MS;
  while (true) {
    const found = new Set((await Promise.all(dirs.map(filesIn))).flat());
    if ([...plan.files.keys()].every((name) => found.has(name))) return;
    if (ended !== undefined) throw new Error(`a member ended:\n${ended}`);
    if (Date.now() > deadline) throw new Error("the group never finished");
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * The pid of the project's local broker (`deno task kafka start`) whose
 * client port is `bootstrap`'s first; undefined for any other broker.
 *
 * @example
 * ```ts
 * const pid = await brokerPid("127.0.0.1:9092");
 * ```
 */
export async function brokerPid(
  bootstrap: string,
): Promise<number | undefined> {
  const port = Number(bootstrap.split(",")[0].split(":").at(-1));
  if (!Number.isInteger(port)) return undefined;
  try {
    const cluster = await LocalCluster.open({ port });
    return (await cluster.status()).find((node) =>
      node.address.endsWith(`:${port}`)
    )?.pid;
  } catch {
    return undefined;
  }
}

/** What `--members` measures. */
export interface GroupBenchOptions {
  /** The project's `--config`. */
  config: string;
  /** The config's bootstrap servers, to find a local broker's pid. */
  bootstrap: string;
  /** Group sizes to measure, e.g. [1, 2, 3]. */
  members: number[];
  /** All files together, MiB. */
  totalMb: number;
  /** The uploaders' `--chunk_size`. */
  chunkSize: number;
  /** Runs of every group size. */
  rounds: number;
  /** Where files and the members' folders go. */
  workDir: string;
}

/** Files the data is split into: enough for every member to get several. */
const GROUP_FILES = 12;

/**
 * Uploads `totalMb` in {@linkcode GROUP_FILES} random files to a fresh topic
 * with two partitions per member of the largest group, then rebuilds it with
 * each group size, `rounds` times (order flipped every round). Prints what
 * it measures, then one line per run; the topic is deleted at the end.
 *
 * @example
 * ```ts
 * const runs = await groupBench({
 *   config: "local", bootstrap: "127.0.0.1:9092", members: [1, 2, 3],
 *   totalMb: 96, chunkSize: 524288, rounds: 1, workDir: "out/bench",
 * }, console.log);
 * ```
 */
export async function groupBench(
  options: GroupBenchOptions,
  print: (line: string) => void,
): Promise<GroupRun[]> {
  const settings = await loadKafkaConfig(options.config);
  await Deno.mkdir(options.workDir, { recursive: true });
  print(
    `${options.totalMb} MiB in ${GROUP_FILES} files, chunks of ${options.chunkSize} B, rebuilt by groups of ${
      options.members.join(", ")
    } (${navigator.hardwareConcurrency} cores):`,
  );
  const kafka = createKafka(settings);
  const admin = await connectAdmin(kafka, settings);
  try {
    return await benchOnTopic(admin, { kafka, settings }, options, print);
  } finally {
    await admin.disconnect();
  }
}

/** {@linkcode groupBench} with a connected admin client. */
async function benchOnTopic(
  admin: Awaited<ReturnType<typeof connectAdmin>>,
  client: { kafka: KafkaClient; settings: KafkaSettings },
  options: GroupBenchOptions,
  print: (line: string) => void,
): Promise<GroupRun[]> {
  const source = `${options.workDir}/group_${options.totalMb}MiB`;
  await Deno.mkdir(source, { recursive: true });
  const bytes = Math.floor(options.totalMb * 1024 * 1024 / GROUP_FILES);
  const files = new Map<string, string>();
  for (let i = 0; i < GROUP_FILES; i++) {
    const path = `${source}/part${String(i).padStart(2, "0")}.bin`;
    await writeRandomFile(path, bytes, { reuse: true });
    files.set(path.split("/").at(-1)!, await sha512Hex(path));
  }
  const topic = `bench_group_${options.totalMb}_${Date.now()}`;
  await ensureTopic(admin, topic, 2 * Math.max(...options.members));
  const upload = await spawnMeasuredTask("upload_data_file", [
    ...["--config", options.config, "--topic_name", topic],
    ...["--chunk_size", String(options.chunkSize), source],
  ]);
  await finishMeasuredReport(upload);
  // The same files again, each chunk keyed on its own (as OpenMSIStream).
  const spreadTopic = `${topic}_spread`;
  await ensureTopic(admin, spreadTopic, 2 * Math.max(...options.members));
  await uploadSpread(client, spreadTopic, source, options.chunkSize);
  const plan: GroupPlan = {
    config: options.config,
    topic,
    workDir: options.workDir,
    files,
    totalBytes: bytes * GROUP_FILES,
    brokerPid: await brokerPid(options.bootstrap),
  };
  const runs: GroupRun[] = [];
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const order = round % 2 === 1
        ? options.members
        : [...options.members].reverse();
      for (const members of order) {
        for (const spread of [false, true]) {
          const run = await rebuildWithMembers(
            spread ? { ...plan, topic: spreadTopic } : plan,
            members,
          );
          run.spread = spread;
          print(`  round ${round}: ${groupLine(run)}`);
          runs.push(run);
        }
      }
    }
  } finally {
    // The groups' repartition topics go too.
    const made = (await admin.listTopics()).filter((name) =>
      name.startsWith(`${topic}-`) || name.startsWith(`${spreadTopic}-`)
    );
    await admin.deleteTopics({ topics: [topic, spreadTopic, ...made] });
  }
  return runs;
}

/**
 * Uploads every file of `folder` to `topic` with each chunk keyed on its
 * own (no partition key, no header), so one file's chunks spread over the
 * partitions as OpenMSIStream's do.
 */
async function uploadSpread(
  client: { kafka: KafkaClient; settings: KafkaSettings },
  topic: string,
  folder: string,
  chunkSize: number,
): Promise<void> {
  const producer = await ChunkProducer.start(client.kafka, client.settings, {
    topic,
    workers: 2,
    maxQueuedChunks: 3000,
  });
  try {
    for await (const entry of Deno.readDir(folder)) {
      const target = { path: `${folder}/${entry.name}`, subdir: "" };
      const result = await uploadFile(target, producer, { chunkSize });
      if (result.failed > 0) throw new Error(`${entry.name}: chunks failed`);
    }
  } finally {
    await producer.close();
  }
}

/**
 * One run as a line: members, MB/s, files and CPU per member, broker CPU.
 *
 * @example
 * ```ts
 * groupLine({ members: 2, seconds: 4, mbPerSecond: 25.2, memberCpuPercent: [61, 58],
 *   filesPerMember: [6, 6], brokerCpuPercent: 40, identical: true });
 * ```
 */
export function groupLine(run: GroupRun): string {
  const broker = run.brokerCpuPercent === undefined
    ? "?"
    : `${run.brokerCpuPercent}%`;
  const how = run.spread ? "spread over partitions, repartitioned" : "whole";
  return `${run.members} member(s), ${how}: ${run.mbPerSecond} MB/s (${run.seconds} s), files ${
    run.filesPerMember.join("+")
  }, member CPU ${
    run.memberCpuPercent.map((c) => `${c}%`).join(" ")
  }, broker CPU ${broker}${
    run.identical ? ", SHA-512 identical" : ", FILES MISSING OR DIFFERENT"
  }`;
}
