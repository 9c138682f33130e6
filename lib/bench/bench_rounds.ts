/**
 * The rounds of `deno task bench` at one file size and chunk size: the test
 * file (made once, kept for the next bench), an untimed warm-up, and the
 * measured rounds, in which every tool produces to a topic of its own and
 * then reads it back, the order of the tools flipped every round.
 *
 * @example
 * ```ts
 * import { benchChunkSize, benchFile } from "./bench_rounds.ts";
 * import type { KafkaAdmin } from "../kafka/client.ts";
 * declare const admin: KafkaAdmin;
 *
 * const file = await benchFile("out/bench", 64);
 * const runs = await benchChunkSize(admin, {
 *   config: "local", bootstrap: "127.0.0.1:9092", ...file, chunkSize: 16384,
 * }, ["project"], 2);
 * ```
 *
 * @module
 */
import type { BenchRun, Tool } from "./bench_results.ts";
import { progressLine } from "./bench_report.ts";
import { writeRandomFile } from "./random_file.ts";
import {
  consumeWith,
  dropBenchTopics,
  kcatInput,
  makeBenchTopic,
  produceWith,
  type RunPlan,
  sha512Hex,
} from "./tool_runs.ts";
import type { KafkaAdmin } from "../kafka/client.ts";
import { DEFAULT_THREADS } from "../kafka/kafka_flags.ts";

const MIB = 1024 * 1024;

/** A test file of random bytes and what the rebuild is checked against. */
export interface BenchFile {
  /** Its path. */
  source: string;
  /** Its SHA-512, hex. */
  sourceSha512: string;
  /** Its size, MiB. */
  sizeMb: number;
}

/**
 * The test file of `sizeMb` MiB in `dir` (`data_<size>MiB.bin`), written
 * once and reused by later benches, with its SHA-512.
 *
 * @example
 * ```ts
 * const { source, sourceSha512 } = await benchFile("out/bench", 256);
 * ```
 */
export async function benchFile(
  dir: string,
  sizeMb: number,
): Promise<BenchFile> {
  const source = `${dir}/data_${sizeMb}MiB.bin`;
  await writeRandomFile(source, sizeMb * MIB, { reuse: true });
  return { source, sourceSha512: await sha512Hex(source), sizeMb };
}

/**
 * Every round: each tool produces to a fresh topic of its own, then each
 * reads its topic back, in the order of `tools`, reversed every second
 * round so that none always goes first. Topics are made alike (the
 * partitions the project's tools give a topic they create) and deleted
 * after the round. Prints each run's line as it ends.
 *
 * @example
 * ```ts
 * import type { KafkaAdmin } from "../kafka/client.ts";
 * import type { RunPlan } from "./tool_runs.ts";
 * declare const admin: KafkaAdmin, plan: RunPlan;
 *
 * const runs = await benchChunkSize(admin, plan, ["project", "java"], 2);
 * ```
 */
export async function benchChunkSize(
  admin: KafkaAdmin,
  plan: RunPlan,
  tools: Tool[],
  rounds: number,
): Promise<BenchRun[]> {
  const runs: BenchRun[] = [];
  if (tools.includes("kcat")) await kcatInput(plan);
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? tools : [...tools].reverse();
    const stamp = Date.now();
    const topics = new Map(order.map((tool) => {
      const name = `bench_${tool}_${plan.chunkSize}_${plan.sizeMb}_${round}`;
      return [tool, `${name}_${stamp}`];
    }));
    for (const topic of topics.values()) {
      await makeBenchTopic(admin, topic, DEFAULT_THREADS);
    }
    for (const step of [produceWith, consumeWith]) {
      for (const tool of order) {
        const run = await step(plan, tool, topics.get(tool)!, round);
        console.log(progressLine(run));
        runs.push(run);
      }
    }
    // The benchmark topics hold hundreds of MB each; give the space back.
    await dropBenchTopics(admin, [...topics.values()]);
  }
  return runs;
}

/**
 * One untimed upload and rebuild of `plan`'s file (a small one) on a topic
 * of its own, before the measured rounds at this chunk size. On a broker
 * just started, the first runs were up to twice as slow as the next for
 * every tool (87.5 then 153.8 MB/s for the upload, 91.2 then 148.8 for
 * ProducerPerformance, 2026-12-04): the broker's JIT and its first log
 * segments. The order of the tools flips each round, but over two rounds
 * one tool still paid for that start alone.
 *
 * @example
 * ```ts
 * import type { KafkaAdmin } from "../kafka/client.ts";
 * import type { RunPlan } from "./tool_runs.ts";
 * declare const admin: KafkaAdmin, plan: RunPlan;
 *
 * await warmUp(admin, plan); // "  warm-up (not counted): 64 MiB up at ..."
 * ```
 */
export async function warmUp(admin: KafkaAdmin, plan: RunPlan): Promise<void> {
  const topic = `bench_warmup_${plan.chunkSize}_${Date.now()}`;
  await makeBenchTopic(admin, topic, DEFAULT_THREADS);
  try {
    const sent = await produceWith(plan, "project", topic, 0);
    const read = await consumeWith(plan, "project", topic, 0);
    console.log(
      `  warm-up (not counted): ${plan.sizeMb} MiB up at ${sent.mbPerSecond} MB/s, back at ${read.mbPerSecond} MB/s`,
    );
  } finally {
    await dropBenchTopics(admin, [topic]);
  }
}
