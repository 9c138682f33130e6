/**
 * A real, single-node Apache Kafka broker on this machine, without Docker.
 *
 * Kafka's broker is published on Maven Central like any Java library, so the
 * project lets Maven collect its jars (from `config/kafka_local/pom.xml`) and
 * starts it with `java` in KRaft mode: one process that is both broker and
 * controller, no ZooKeeper. Users who downloaded the Apache tarball can set
 * `KAFKA_HOME` and its `libs/` folder is used instead.
 *
 * Everything the broker writes (data, logs, its pid) lives in
 * `.kafka/<port>/`, which git ignores.
 *
 * @example
 * ```ts
 * import { LocalBroker } from "./broker.ts";
 *
 * const broker = new LocalBroker({ port: 9092 });
 * await broker.start(); // returns once a metadata request answers
 * console.log(await broker.status());
 * await broker.stop();
 * ```
 *
 * @module
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import process from "node:process";
import { logLevel } from "kafkajs";
import { kafkaClient } from "./client.ts";
import { UserError } from "../common/cli.ts";
import { sleep } from "../common/shutdown.ts";

/** Where the pom lives and where broker folders go, relative to the project root. */
const POM_PATH = "config/kafka_local/pom.xml";
const STATE_ROOT = ".kafka";
/** How long `start` waits for the first metadata answer. */
const START_TIMEOUT_MS = 90_000;
/** How long `stop` waits for a graceful shutdown before SIGKILL. */
const STOP_TIMEOUT_MS = 30_000;

/** Where and how to run the broker. */
export interface LocalBrokerOptions {
  /** The client port (PLAINTEXT); the controller uses port + 1. */
  port?: number;
  /** The folder for data and logs; default `.kafka/<port>`. */
  stateDir?: string;
  /** Java heap, e.g. `"512m"`; default `"1g"`. */
  heap?: string;
}

/** What `status` finds. */
export interface BrokerStatus {
  running: boolean;
  pid?: number;
  bootstrapServer: string;
  stateDir: string;
}

/** Starts, stops and inspects one local broker. */
export class LocalBroker {
  readonly port: number;
  readonly stateDir: string;
  readonly heap: string;

  constructor(options: LocalBrokerOptions = {}) {
    this.port = options.port ?? 9092;
    this.stateDir = options.stateDir ?? `${STATE_ROOT}/${this.port}`;
    this.heap = options.heap ?? "1g";
  }

  /** `127.0.0.1:<port>`, what clients put in `bootstrap.servers`. */
  get bootstrapServer(): string {
    return `127.0.0.1:${this.port}`;
  }

  get #pidFile(): string {
    return `${this.stateDir}/broker.pid`;
  }

  /** The broker's own log file, where start-up failures are explained. */
  get logFile(): string {
    return `${this.stateDir}/broker.log`;
  }

  /**
   * Starts the broker in the background (if it is not running) and waits until
   * it answers a metadata request. Throws {@linkcode UserError} with the last
   * log lines when it does not come up.
   */
  async start(onProgress: (line: string) => void = () => {}): Promise<void> {
    if ((await this.status()).running) {
      onProgress(`Kafka is already running on ${this.bootstrapServer}.`);
      return;
    }
    await requireCommand("java", "-version");
    await Deno.mkdir(`${this.stateDir}/data`, { recursive: true });
    const classpath = await resolveClasspath(onProgress);
    await this.#writeConfigFiles();
    await this.#formatStorageOnce(classpath, onProgress);

    onProgress(`Starting Kafka on ${this.bootstrapServer} ...`);
    const pid = this.#launch(classpath);
    await Deno.writeTextFile(this.#pidFile, String(pid));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (!isAlive(pid)) break;
      if (await answersMetadata(this.bootstrapServer)) return;
      await sleep(1000);
    }
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
    throw new UserError(
      `Kafka did not come up on ${this.bootstrapServer}; last lines of ${this.logFile}:\n${await this
        .#lastLogLines()}`,
    );
  }

  /** Shuts the broker down gracefully (SIGTERM), SIGKILL after 30 s. */
  async stop(): Promise<boolean> {
    const pid = await this.#readPid();
    if (pid === undefined || !isAlive(pid)) {
      await Deno.remove(this.#pidFile).catch(() => {});
      return false;
    }
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (isAlive(pid) && Date.now() < deadline) await sleep(250);
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
    await Deno.remove(this.#pidFile).catch(() => {});
    return true;
  }

  /** Whether our broker process runs and answers. */
  async status(): Promise<BrokerStatus> {
    const pid = await this.#readPid();
    const running = pid !== undefined && isAlive(pid) &&
      await answersMetadata(this.bootstrapServer);
    return {
      running,
      pid: running ? pid : undefined,
      bootstrapServer: this.bootstrapServer,
      stateDir: this.stateDir,
    };
  }

  /** Writes server.properties and the log4j2 configuration. */
  async #writeConfigFiles(): Promise<void> {
    const dir = await Deno.realPath(this.stateDir);
    const controllerPort = this.port + 1;
    const properties = [
      "# Written by scripts/kafka_local.ts: one node, broker and controller.",
      "process.roles=broker,controller",
      "node.id=1",
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${this.port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${this.port}`,
      "inter.broker.listener.name=PLAINTEXT",
      "controller.listener.names=CONTROLLER",
      "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
      `log.dirs=${dir}/data`,
      "num.partitions=1",
      "auto.create.topics.enable=true",
      // A single node cannot keep three copies of the internal topics.
      "offsets.topic.replication.factor=1",
      "offsets.topic.num.partitions=1",
      "share.coordinator.state.topic.replication.factor=1",
      "share.coordinator.state.topic.min.isr=1",
      "transaction.state.log.replication.factor=1",
      "transaction.state.log.min.isr=1",
      "group.initial.rebalance.delay.ms=0",
      // Room for 512 KiB chunks plus the batch around them.
      "message.max.bytes=10485760",
    ].join("\n");
    await Deno.writeTextFile(`${dir}/server.properties`, properties + "\n");
    const log4j = [
      "status = error",
      "appender.file.type = File",
      "appender.file.name = FILE",
      `appender.file.fileName = ${dir}/broker.log`,
      "appender.file.layout.type = PatternLayout",
      "appender.file.layout.pattern = [%d] %p %m (%c)%n",
      "rootLogger.level = INFO",
      "rootLogger.appenderRef.file.ref = FILE",
      "logger.kafka.name = org.apache.kafka",
      "logger.kafka.level = WARN",
    ].join("\n");
    await Deno.writeTextFile(`${dir}/log4j2.properties`, log4j + "\n");
  }

  /** Formats the storage folder the first time only (KRaft needs a cluster id). */
  async #formatStorageOnce(
    classpath: string,
    onProgress: (line: string) => void,
  ): Promise<void> {
    try {
      await Deno.stat(`${this.stateDir}/data/meta.properties`);
      return;
    } catch {
      // Not formatted yet.
    }
    onProgress(`Formatting storage in ${this.stateDir}/data ...`);
    const clusterId = (await runJava(classpath, [
      "kafka.tools.StorageTool",
      "random-uuid",
    ])).trim().split("\n").at(-1)!;
    await runJava(classpath, [
      "kafka.tools.StorageTool",
      "format",
      "-t",
      clusterId,
      "-c",
      `${this.stateDir}/server.properties`,
      "--ignore-formatted",
    ]);
  }

  /** Starts java detached from this process, output appended to broker.out. */
  #launch(classpath: string): number {
    const out = openSync(`${this.stateDir}/broker.out`, "a");
    const child = spawn("java", [
      `-Xms256m`,
      `-Xmx${this.heap}`,
      `-Dlog4j2.configurationFile=${this.stateDir}/log4j2.properties`,
      "-cp",
      classpath,
      "kafka.Kafka",
      `${this.stateDir}/server.properties`,
    ], { detached: true, stdio: ["ignore", out, out] });
    child.unref();
    closeSync(out);
    if (child.pid === undefined) throw new UserError("could not start java");
    return child.pid;
  }

  async #readPid(): Promise<number | undefined> {
    try {
      return Number(await Deno.readTextFile(this.#pidFile));
    } catch {
      return undefined;
    }
  }

  async #lastLogLines(count = 15): Promise<string> {
    const texts: string[] = [];
    for (const file of [this.logFile, `${this.stateDir}/broker.out`]) {
      try {
        texts.push(...(await Deno.readTextFile(file)).trimEnd().split("\n"));
      } catch {
        // The broker may have died before writing anything.
      }
    }
    return texts.slice(-count).join("\n") || "(no log lines)";
  }
}

/**
 * The broker's classpath: `$KAFKA_HOME/libs/*` when set, else the jars Maven
 * resolved from the pom (cached in `.kafka/classpath.txt`).
 *
 * @example
 * ```ts
 * const classpath = await resolveClasspath(console.log);
 * ```
 */
export async function resolveClasspath(
  onProgress: (line: string) => void = () => {},
): Promise<string> {
  const kafkaHome = Deno.env.get("KAFKA_HOME");
  if (kafkaHome) return `${kafkaHome}/libs/*`;
  const cacheFile = `${STATE_ROOT}/classpath.txt`;
  const pomTime = (await Deno.stat(POM_PATH)).mtime?.getTime() ?? 0;
  try {
    const cached = await Deno.stat(cacheFile);
    if ((cached.mtime?.getTime() ?? 0) >= pomTime) {
      return (await Deno.readTextFile(cacheFile)).trim();
    }
  } catch {
    // No cache yet.
  }
  await requireCommand("mvn", "--version");
  onProgress("Fetching the Kafka jars from Maven Central (first run only) ...");
  await Deno.mkdir(STATE_ROOT, { recursive: true });
  const result = await new Deno.Command("mvn", {
    args: [
      "-q",
      "-B",
      "-f",
      POM_PATH,
      "dependency:build-classpath",
      `-Dmdep.outputFile=${await Deno.realPath(STATE_ROOT)}/classpath.txt`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    const output = new TextDecoder().decode(result.stdout).trim().split("\n");
    throw new UserError(
      `Maven could not fetch the Kafka jars: ${output.slice(-3).join(" ")}`,
    );
  }
  return (await Deno.readTextFile(cacheFile)).trim();
}

/** Throws a one-line install hint when a command is missing. */
async function requireCommand(name: string, versionFlag: string) {
  try {
    await new Deno.Command(name, {
      args: [versionFlag],
      stdout: "null",
      stderr: "null",
    }).output();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new UserError(
      `${name} not found: install Java 17 and Maven (Debian: apt-get install openjdk-17-jre-headless maven), ` +
        `or run Kafka in Docker instead: docker run -d -p 9092:9092 apache/kafka:4.1.2`,
    );
  }
}

/** Runs a Kafka Java tool and returns its stdout. */
async function runJava(classpath: string, args: string[]): Promise<string> {
  const result = await new Deno.Command("java", {
    args: ["-cp", classpath, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(result.stdout);
  if (!result.success) {
    const stderr = new TextDecoder().decode(result.stderr).trim();
    throw new UserError(`${args[0]} failed: ${stderr.split("\n").at(-1)}`);
  }
  return stdout;
}

/** Whether a process with this pid exists. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a Kafka broker at `bootstrapServer` answers a metadata request.
 *
 * @example
 * ```ts
 * if (!await answersMetadata("127.0.0.1:9092")) console.log("no broker");
 * ```
 */
export async function answersMetadata(
  bootstrapServer: string,
): Promise<boolean> {
  const admin = kafkaClient({
    brokers: [bootstrapServer],
    clientId: "kafka_local-probe",
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: [] });
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
