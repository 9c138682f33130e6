/**
 * The peers the benchmark measures the project against: Kafka's own Java perf
 * tools (`ProducerPerformance` and `ConsumerPerformance` from the
 * `org.apache.kafka:kafka-tools` jar, the broker's own version, resolved by
 * Maven from `config/kafka_local/pom.xml` like the broker) and kcat
 * (librdkafka), when it is installed.
 *
 * This module only builds their command lines, prepares kcat's input and
 * reads the figures the Java tools print; running and measuring them is
 * `process_stats.ts`'s job.
 *
 * @example
 * ```ts
 * import { javaTools, producerPerformanceArgs } from "./peer_tools.ts";
 *
 * const tools = await javaTools();
 * const args = producerPerformanceArgs(tools, {
 *   bootstrap: "127.0.0.1:9092",
 *   topic: "bench",
 *   records: 4096,
 *   recordSize: 16384,
 * });
 * ```
 *
 * @module
 */
import { UserError } from "../common/cli.ts";
import { resolveClasspath } from "../kafka/maven_classpath.ts";
import type { Tool } from "./bench_results.ts";

/** Bytes in the MB that Kafka's Java tools print (they mean MiB). */
const JAVA_MB = 1024 * 1024;
/**
 * The JVM options of Kafka's `kafka-producer-perf-test.sh` and
 * `kafka-consumer-perf-test.sh` (heap 512 MiB, G1 as in `kafka-run-class.sh`),
 * so the tools run as their own scripts run them.
 */
const JVM_OPTIONS = [
  "-Xmx512M",
  "-server",
  "-XX:+UseG1GC",
  "-XX:MaxGCPauseMillis=20",
  "-XX:InitiatingHeapOccupancyPercent=35",
  "-XX:+ExplicitGCInvokesConcurrent",
  "-Djava.awt.headless=true",
];
/** kcat's message delimiter; its records must not contain this byte. */
const NEWLINE = 0x0a;

/** Where Kafka's Java perf tools are. */
export interface JavaTools {
  /** The broker's classpath, which includes the kafka-tools jar. */
  classpath: string;
  /** The Kafka version of that jar, e.g. `4.1.2`. */
  version: string;
}

/** What one produce run sends. */
export interface ProduceRun {
  /** `host:port` of the broker (PLAINTEXT). */
  bootstrap: string;
  /** The topic, created beforehand with the project's partitions. */
  topic: string;
  /** How many records. */
  records: number;
  /** Bytes per record (the project's chunk size). */
  recordSize: number;
  /** The producer's `batch.size` (the project's config's); else the tool's default. */
  batchBytes?: number;
  /** The producer's `linger.ms` (the project's config's); else the tool's default. */
  lingerMs?: number;
  /** The producer's `compression.type` (the project's config's); else none. */
  compression?: string;
}

/** `batch.size`, `linger.ms` and `compression.type` as `key=value` pairs, when set. */
function batchingProps(run: ProduceRun): string[] {
  return [
    ...(run.batchBytes === undefined ? [] : [`batch.size=${run.batchBytes}`]),
    ...(run.lingerMs === undefined ? [] : [`linger.ms=${run.lingerMs}`]),
    ...(run.compression ? [`compression.type=${run.compression}`] : []),
  ];
}

/** What one consume run reads. */
export interface ConsumeRun {
  /** `host:port` of the broker (PLAINTEXT). */
  bootstrap: string;
  /** The topic to read from the beginning. */
  topic: string;
  /** How many records to read before stopping. */
  records: number;
}

/**
 * Finds the kafka-tools jar on the broker's classpath (Maven resolves it on
 * first use, from the same pom and with the same version as the broker).
 * Throws {@linkcode UserError} when the classpath has no such jar.
 *
 * @example
 * ```ts
 * const { version } = await javaTools(); // "4.1.2"
 * ```
 */
export async function javaTools(
  onProgress: (line: string) => void = () => {},
): Promise<JavaTools> {
  try {
    await new Deno.Command("java", {
      args: ["-version"],
      stdout: "null",
      stderr: "null",
    }).output();
  } catch {
    throw new UserError(
      "java not found: --peers runs Kafka's Java perf tools (Debian: apt-get install openjdk-17-jre-headless maven)",
    );
  }
  const classpath = await resolveClasspath(onProgress);
  const jar = classpath.split(":").find((path) =>
    /kafka-tools-\d[^/]*\.jar$/.test(path)
  );
  if (jar === undefined && !classpath.endsWith("/libs/*")) {
    throw new UserError(
      "the kafka-tools jar is not on the broker's classpath: check config/kafka_local/pom.xml",
    );
  }
  const version = jar?.match(/kafka-tools-([\d.]+)\.jar$/)?.[1] ??
    "of KAFKA_HOME";
  return { classpath, version };
}

/** `java` arguments that run one of Kafka's tools with the tools' JVM options. */
function javaArgs(tools: JavaTools, tool: string, args: string[]): string[] {
  return [
    ...JVM_OPTIONS,
    ...["-cp", tools.classpath, `org.apache.kafka.tools.${tool}`],
    ...args,
  ];
}

/**
 * `java` arguments for ProducerPerformance: acks=all, no throttling, the
 * run's batching, the producer's other settings at their defaults.
 *
 * @example
 * ```ts
 * const tools: JavaTools = { classpath: "/opt/kafka/libs/*", version: "4.1.2" };
 * const run = { bootstrap: "127.0.0.1:9092", topic: "t", records: 10, recordSize: 16384 };
 * new Deno.Command("java", { args: producerPerformanceArgs(tools, run) });
 * ```
 */
export function producerPerformanceArgs(
  tools: JavaTools,
  run: ProduceRun,
): string[] {
  return javaArgs(tools, "ProducerPerformance", [
    ...["--topic", run.topic],
    ...["--num-records", String(run.records)],
    ...["--record-size", String(run.recordSize)],
    ...["--throughput", "-1"],
    "--producer-props",
    `bootstrap.servers=${run.bootstrap}`,
    "acks=all",
    ...batchingProps(run),
  ]);
}

/**
 * `java` arguments for ConsumerPerformance, in a group of its own that reads
 * the topic from the beginning.
 *
 * @example
 * ```ts
 * const tools: JavaTools = { classpath: "/opt/kafka/libs/*", version: "4.1.2" };
 * const run = { bootstrap: "127.0.0.1:9092", topic: "t", records: 10 };
 * new Deno.Command("java", { args: consumerPerformanceArgs(tools, run) });
 * ```
 */
export function consumerPerformanceArgs(
  tools: JavaTools,
  run: ConsumeRun,
): string[] {
  return javaArgs(tools, "ConsumerPerformance", [
    ...["--bootstrap-server", run.bootstrap],
    ...["--topic", run.topic],
    ...["--messages", String(run.records)],
    ...["--group", `bench-${run.topic}`],
  ]);
}

/**
 * The MB/s (10^6 bytes) ProducerPerformance reports on its last line, e.g.
 * `4096 records sent, 3000.0 records/sec (46.88 MB/sec), ...` (its MB is a
 * MiB). Its clock starts after the JVM and the client are up.
 *
 * @example
 * ```ts
 * parseProducerPerformance("10 records sent, 1.0 records/sec (1.00 MB/sec), 2 ms avg latency"); // 1.048576
 * ```
 */
export function parseProducerPerformance(stdout: string): number {
  const match = stdout.match(
    /records sent, [\d.]+ records\/sec \(([\d.]+) MB\/sec\)/,
  );
  if (!match) {
    throw new Error(`no summary from ProducerPerformance:\n${stdout}`);
  }
  return Number(match[1]) * JAVA_MB / 1e6;
}

/**
 * The MB/s (10^6 bytes) ConsumerPerformance reports in its CSV line (column
 * `MB.sec`, MiB/s, from its start to its last record).
 *
 * @example
 * ```ts
 * parseConsumerPerformance(
 *   "start.time, end.time, data.consumed.in.MB, MB.sec\n" +
 *     "2026-01-01 00:00:00:000, 2026-01-01 00:00:01:000, 1.0, 1.0",
 * ); // 1.048576
 * ```
 */
export function parseConsumerPerformance(stdout: string): number {
  const lines = stdout.trim().split("\n").map((line) =>
    line.split(",").map((field) => field.trim())
  );
  const header = lines.findIndex((fields) => fields.includes("MB.sec"));
  const column = lines[header]?.indexOf("MB.sec") ?? -1;
  const value = Number(lines[header + 1]?.[column]);
  if (column < 0 || !Number.isFinite(value)) {
    throw new Error(`no summary from ConsumerPerformance:\n${stdout}`);
  }
  return value * JAVA_MB / 1e6;
}

/**
 * The kcat program on the PATH, or undefined when it is not installed.
 *
 * @example
 * ```ts
 * if (await findKcat()) console.log("kcat joins the benchmark");
 * ```
 */
export async function findKcat(): Promise<string | undefined> {
  for (const name of ["kcat", "kafkacat"]) {
    try {
      const { success } = await new Deno.Command(name, {
        args: ["-V"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) return name;
    } catch {
      // Not installed under this name.
    }
  }
  return undefined;
}

/** The tools a benchmark runs, with the Java tools and kcat when they take part. */
export interface BenchTools {
  /** The tools in the order of the first round. */
  tools: Tool[];
  /** Kafka's Java perf tools, with --peers. */
  java?: JavaTools;
  /** The kcat program, with --peers when it is installed. */
  kcat?: string;
}

/**
 * The tools to run: the project, and with `withPeers` the Java tools and kcat
 * if installed (saying so on `log` when it is not).
 *
 * @example
 * ```ts
 * const { tools } = await benchTools(false, console.log);
 * ```
 */
export async function benchTools(
  withPeers: boolean,
  log: (line: string) => void,
): Promise<BenchTools> {
  if (!withPeers) return { tools: ["project"] };
  const java = await javaTools(log);
  const kcat = await findKcat();
  if (!kcat) {
    log("kcat is not installed (apt-get install kcat): measuring without it.");
  }
  return {
    java,
    kcat,
    tools: kcat ? ["project", "java", "kcat"] : ["project", "java"],
  };
}

/**
 * Writes kcat's input for `source`: records of `recordSize` bytes each, one
 * per line. kcat splits its input at newlines, so newline bytes inside a
 * record become 0x0b; the payload stays random and the same size. Reuses an
 * existing file of the right size; returns whether it wrote one.
 *
 * @example
 * ```ts
 * await writeKcatInput("out/bench/data_64MiB.bin", "out/bench/kcat.txt", 16384);
 * ```
 */
export async function writeKcatInput(
  source: string,
  target: string,
  recordSize: number,
): Promise<boolean> {
  const size = (await Deno.stat(source)).size;
  const records = Math.ceil(size / recordSize);
  if (
    (await Deno.stat(target).catch(() => undefined))?.size === size + records
  ) {
    return false;
  }
  using input = await Deno.open(source);
  using output = await Deno.open(target, {
    write: true,
    create: true,
    truncate: true,
  });
  const record = new Uint8Array(recordSize + 1);
  for (let left = size; left > 0; left -= recordSize) {
    const length = Math.min(recordSize, left);
    let read = 0;
    while (read < length) {
      read += (await input.read(record.subarray(read, length))) ?? length;
    }
    const line = record.subarray(0, length + 1);
    for (let i = 0; i < length; i++) if (line[i] === NEWLINE) line[i] = 0x0b;
    line[length] = NEWLINE;
    let written = 0;
    while (written < line.length) {
      written += await output.write(line.subarray(written));
    }
  }
  return true;
}

/**
 * kcat arguments that produce every line of `input` as one record, acks=all,
 * the run's batching, librdkafka's other settings at their defaults.
 *
 * @example
 * ```ts
 * const run = { bootstrap: "127.0.0.1:9092", topic: "t", records: 10, recordSize: 16384 };
 * new Deno.Command("kcat", { args: kcatProduceArgs(run, "out/bench/kcat.txt") });
 * ```
 */
export function kcatProduceArgs(run: ProduceRun, input: string): string[] {
  return [
    "-P",
    ...["-b", run.bootstrap, "-t", run.topic],
    ...["-X", "acks=all"],
    ...batchingProps(run).flatMap((prop) => ["-X", prop]),
    ...["-l", input],
  ];
}

/**
 * kcat arguments that read `records` records of a topic from the beginning
 * and exit (the payloads go to stdout, which the benchmark discards).
 *
 * @example
 * ```ts
 * const run = { bootstrap: "127.0.0.1:9092", topic: "t", records: 10 };
 * new Deno.Command("kcat", { args: kcatConsumeArgs(run) });
 * ```
 */
export function kcatConsumeArgs(run: ConsumeRun): string[] {
  return [
    "-C",
    ...["-b", run.bootstrap, "-t", run.topic],
    ...["-o", "beginning", "-c", String(run.records), "-e", "-q"],
  ];
}
