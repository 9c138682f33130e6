/**
 * Real Apache Kafka brokers on this machine, without Docker: one node, or a
 * cluster of several, optionally behind SASL_SSL.
 *
 * Kafka's broker is published on Maven Central like any Java library, so the
 * project lets Maven collect its jars (from `config/kafka_local/pom.xml`) and
 * starts them with `java` in KRaft mode: each node is both broker and
 * controller, the N nodes form one quorum of N voters, no ZooKeeper. Users who
 * downloaded the Apache tarball can set `KAFKA_HOME` and its `libs/` folder is
 * used instead.
 *
 * Node i (0-based) serves clients on `port + 2i` and its controller on
 * `port + 2i + 1`. Everything lives in `.kafka/<port>/` (git-ignored): a
 * single node's data, logs and pid right there, a cluster's nodes in
 * `node0/`, `node1/`, ..., and what the cluster was made as in `cluster.json`.
 *
 * @example
 * ```ts
 * import { LocalCluster } from "./broker.ts";
 *
 * const cluster = await LocalCluster.open({ port: 9092, nodes: 3 });
 * await cluster.start(); // returns once every node answers a metadata request
 * console.log(await cluster.status());
 * await cluster.stop();
 * ```
 *
 * @module
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import process from "node:process";
import { type Admin, logLevel } from "kafkajs";
import { UserError } from "../common/cli.ts";
import { runInstalled } from "../common/processes.ts";
import { sleep } from "../common/shutdown.ts";
import { KafkaClient } from "./client.ts";
import {
  BROKER_USER,
  chooseUserCredentials,
  clientConfigText,
  credentialsPath,
  ensureTlsFiles,
  jaasLine,
  loadOrCreateSecrets,
  type LocalSecrets,
  randomSecret,
  scramArgument,
  type TlsFiles,
} from "./local_security.ts";

/** Where the pom lives and where broker folders go, relative to the project root. */
const POM_PATH = "config/kafka_local/pom.xml";
const STATE_ROOT = ".kafka";
/** How long `start` waits for every node's first metadata answer. */
const START_TIMEOUT_MS = 120_000;
/** How long `stop` waits for a graceful shutdown before SIGKILL. */
const STOP_TIMEOUT_MS = 30_000;
/** More nodes than this is no longer a local drill. */
const MAX_NODES = 9;

/** How a probe logs in to a secure broker: its CA, and a SCRAM user. */
export interface ProbeLogin {
  /** TLS with this CA (PEM text). */
  ssl?: { ca: string };
  /** SCRAM-SHA-512 with this user. */
  sasl?: { mechanism: "scram-sha-512"; username: string; password: string };
}

/** Which cluster to run, and how. */
export interface LocalClusterOptions {
  /** Node 0's client port (default 9092); node i uses port + 2i and port + 2i + 1. */
  port?: number;
  /** Nodes in the quorum; default: what the folder was made with, else 1. */
  nodes?: number;
  /** SASL_SSL with SCRAM-SHA-512; default: what the folder was made with, else off. */
  secure?: boolean;
  /** Java heap per node, e.g. `"512m"`; default 1g for one node, 512m each for more. */
  heap?: string;
}

/** What a cluster folder was made as (`cluster.json`); fixed once formatted. */
interface ClusterRecord {
  nodes: number;
  secure: boolean;
  clusterId: string;
}

/** One node as `status` finds it. */
export interface NodeStatus {
  /** The node's index, 0-based. */
  node: number;
  /** Its broker id in Kafka's metadata (index + 1). */
  brokerId: number;
  /** `127.0.0.1:<client port>`. */
  address: string;
  /** The broker's pid, when its process runs. */
  pid?: number;
  /** Whether it runs and answers a metadata request. */
  running: boolean;
  /** Its data and log folder. */
  stateDir: string;
}

/** What `stop` did to one node. */
export interface NodeStopped {
  /** The node's index. */
  node: number;
  /** `stopped`; `not running`; or `stale` (the pid file named another process, left alone). */
  outcome: "stopped" | "not running" | "stale";
  /** The pid in the pid file, if any. */
  pid?: number;
}

/** Starts, stops and inspects the nodes of one local cluster. */
export class LocalCluster {
  /** Node 0's client port. */
  readonly port: number;
  /** How many nodes. */
  readonly nodes: number;
  /** Whether the client listeners speak SASL_SSL. */
  readonly secure: boolean;
  /** Java heap per node. */
  readonly heap: string;
  /** `.kafka/<port>`: the cluster's folder. */
  readonly dir: string;
  #record: ClusterRecord | undefined;

  private constructor(
    port: number,
    record: ClusterRecord | undefined,
    nodes: number,
    secure: boolean,
    heap: string | undefined,
  ) {
    this.port = port;
    this.#record = record;
    this.nodes = nodes;
    this.secure = secure;
    this.heap = heap ?? (nodes === 1 ? "1g" : "512m");
    this.dir = `${STATE_ROOT}/${port}`;
  }

  /**
   * The cluster on `options.port`, as its folder says it was made; asking for
   * another node count or security than that is a {@linkcode UserError}.
   */
  static async open(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const port = options.port ?? 9092;
    const record = await readRecord(`${STATE_ROOT}/${port}`);
    const nodes = options.nodes ?? record?.nodes ?? 1;
    const secure = options.secure || (record?.secure ?? false);
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NODES) {
      throw new UserError(`--nodes must be 1 to ${MAX_NODES}, not ${nodes}`);
    }
    if (port < 1 || port + 2 * nodes - 1 > 65535) {
      throw new UserError(
        `--port ${port} leaves no room for ${nodes} node(s) (ports ${port}-${
          port + 2 * nodes - 1
        })`,
      );
    }
    if (record && (record.nodes !== nodes || record.secure !== secure)) {
      throw new UserError(
        `${STATE_ROOT}/${port} holds a ${
          describeShape(record)
        } cluster, not a ${
          describeShape({ nodes, secure })
        } one; stop it and remove ${STATE_ROOT}/${port} to make another, or use another --port`,
      );
    }
    return new LocalCluster(port, record, nodes, secure, options.heap);
  }

  /** `127.0.0.1:<port + 2i>`: node i's client address. */
  address(node: number): string {
    return `127.0.0.1:${this.port + 2 * node}`;
  }

  /** What clients put in `bootstrap.servers`: every node's address. */
  get bootstrapServers(): string {
    return Array.from({ length: this.nodes }, (_, i) => this.address(i)).join(
      ",",
    );
  }

  /** Node i's folder: the cluster folder for one node, `node<i>/` in it for more. */
  nodeDir(node: number): string {
    return this.nodes === 1 ? this.dir : `${this.dir}/node${node}`;
  }

  /** Node i's own log file, where start-up failures are explained. */
  logFile(node: number): string {
    return `${this.nodeDir(node)}/broker.log`;
  }

  /** The client config of a secure cluster (written by `start`). */
  get clientConfigPath(): string {
    return `${this.dir}/client.config`;
  }

  /** Where generated user credentials are kept (secure clusters). */
  get credentialsPath(): string {
    return credentialsPath(this.dir);
  }

  /**
   * Starts every node (or only `only`) that is not running, and waits until
   * each answers a metadata request. Formats storage on first use. Throws
   * {@linkcode UserError} with the last log lines of a node that does not come up.
   */
  async start(
    onProgress: (line: string) => void = () => {},
    only?: number,
  ): Promise<void> {
    const wanted = this.#selectNodes(only);
    if (only !== undefined && !this.#record) {
      throw new UserError(
        `there is no cluster on port ${this.port} yet: start all its nodes first`,
      );
    }
    const toStart: number[] = [];
    for (const node of wanted) {
      const pid = await this.#brokerPid(node);
      if (pid !== undefined) {
        onProgress(`Node ${node} is already running on ${this.address(node)}.`);
      } else {
        toStart.push(node);
      }
    }
    if (toStart.length === 0) return;
    await requireCommand("java", "-version");
    for (let node = 0; node < this.nodes; node++) {
      await Deno.mkdir(`${this.nodeDir(node)}/data`, { recursive: true });
    }
    const classpath = await resolveClasspath(onProgress);
    const secrets = this.secure
      ? await loadOrCreateSecrets(this.dir)
      : undefined;
    const tls = secrets
      ? await ensureTlsFiles(this.dir, secrets, onProgress)
      : undefined;
    for (let node = 0; node < this.nodes; node++) {
      await this.#writeConfigFiles(node, secrets, tls);
    }
    await this.#formatStorage(classpath, secrets, onProgress);
    if (tls) {
      await Deno.writeTextFile(
        this.clientConfigPath,
        clientConfigText(
          this.bootstrapServers,
          await Deno.realPath(tls.caFile),
        ),
      );
    }

    const pids = new Map<number, number>();
    for (const node of toStart) {
      onProgress(`Starting Kafka node ${node} on ${this.address(node)} ...`);
      const pid = await this.#launch(node, classpath);
      await Deno.writeTextFile(this.#pidFile(node), String(pid));
      pids.set(node, pid);
    }
    // Nodes of a quorum only come up together: wait for all at once.
    const probe = await this.#probeConfig();
    const deadline = Date.now() + START_TIMEOUT_MS;
    const waiting = new Set(toStart);
    while (waiting.size > 0 && Date.now() < deadline) {
      for (const node of [...waiting]) {
        if (!isAlive(pids.get(node)!)) {
          throw await this.#startFailure(node, pids, "exited");
        }
        if (await answersMetadata(this.address(node), probe)) {
          waiting.delete(node);
        }
      }
      if (waiting.size > 0) await sleep(1000);
    }
    if (waiting.size > 0) {
      throw await this.#startFailure([...waiting][0], pids, "did not answer");
    }
    // A consumer that joins a group at once would otherwise be told that the
    // group coordinator is not available, or still loading.
    while (!await coordinatorAnswers(this.bootstrapServers, probe)) {
      if (Date.now() > deadline) {
        throw await this.#startFailure(0, pids, "has no group coordinator");
      }
      await sleep(500);
    }
  }

  /**
   * Stops every node (or only `only`) gracefully (SIGTERM, SIGKILL after
   * 30 s), but only a process whose command line names that node's config: a
   * stale pid file never gets an unrelated process killed.
   */
  async stop(only?: number): Promise<NodeStopped[]> {
    const results: NodeStopped[] = [];
    const signalled: number[] = [];
    for (const node of this.#selectNodes(only)) {
      const pid = await this.#readPid(node);
      if (pid === undefined || !isAlive(pid)) {
        await Deno.remove(this.#pidFile(node)).catch(() => {});
        results.push({ node, outcome: "not running", pid });
      } else if (!await this.#isOurBroker(node, pid)) {
        await Deno.remove(this.#pidFile(node)).catch(() => {});
        results.push({ node, outcome: "stale", pid });
      } else {
        process.kill(pid, "SIGTERM");
        signalled.push(pid);
        results.push({ node, outcome: "stopped", pid });
      }
    }
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (signalled.some(isAlive) && Date.now() < deadline) await sleep(250);
    for (const pid of signalled.filter(isAlive)) process.kill(pid, "SIGKILL");
    for (const { node, outcome } of results) {
      if (outcome === "stopped") {
        await Deno.remove(this.#pidFile(node)).catch(() => {});
      }
    }
    return results;
  }

  /** Each node: its address, pid, and whether it runs and answers. */
  async status(): Promise<NodeStatus[]> {
    const probe = this.#record ? await this.#probeConfig() : {};
    return await Promise.all(
      this.#selectNodes().map(async (node) => {
        const pid = await this.#brokerPid(node);
        const running = pid !== undefined &&
          await answersMetadata(this.address(node), probe);
        return {
          node,
          brokerId: node + 1,
          address: this.address(node),
          pid,
          running,
          stateDir: this.nodeDir(node),
        };
      }),
    );
  }

  /** The nodes an action is about: all, or the one `--node` names. */
  #selectNodes(only?: number): number[] {
    if (only === undefined) {
      return Array.from({ length: this.nodes }, (_, i) => i);
    }
    if (!Number.isInteger(only) || only < 0 || only >= this.nodes) {
      throw new UserError(
        `--node must be 0 to ${
          this.nodes - 1
        } for this ${this.nodes}-node cluster, not ${only}`,
      );
    }
    return [only];
  }

  #pidFile(node: number): string {
    return `${this.nodeDir(node)}/broker.pid`;
  }

  async #readPid(node: number): Promise<number | undefined> {
    try {
      const pid = Number((await Deno.readTextFile(this.#pidFile(node))).trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** The pid of node i's broker if it runs (and really is that broker). */
  async #brokerPid(node: number): Promise<number | undefined> {
    const pid = await this.#readPid(node);
    if (pid === undefined || !isAlive(pid)) return undefined;
    return await this.#isOurBroker(node, pid) ? pid : undefined;
  }

  /** Whether `pid` is a Kafka broker started with node i's server.properties. */
  async #isOurBroker(node: number, pid: number): Promise<boolean> {
    const command = await commandLine(pid);
    const relative = `${this.nodeDir(node)}/server.properties`;
    const absolute = await Deno.realPath(relative).catch(() => relative);
    // The config is java's last argument (a relative one before clusters).
    return command.includes(" kafka.Kafka ") &&
      (command.endsWith(` ${absolute}`) || command.endsWith(` ${relative}`));
  }

  /** What a probe needs to log in: nothing, or the brokers' own SCRAM user. */
  async #probeConfig(): Promise<ProbeLogin> {
    if (!this.secure) return {};
    const secrets = await loadOrCreateSecrets(this.dir);
    return {
      ssl: { ca: await Deno.readTextFile(`${this.dir}/tls/ca.pem`) },
      sasl: {
        mechanism: "scram-sha-512",
        username: BROKER_USER,
        password: secrets.brokerPassword,
      },
    };
  }

  /** Writes node i's server.properties and log4j2 configuration. */
  async #writeConfigFiles(
    node: number,
    secrets?: LocalSecrets,
    tls?: TlsFiles,
  ): Promise<void> {
    const dir = await Deno.realPath(this.nodeDir(node));
    const copies = Math.min(3, this.nodes);
    const minInSync = copies >= 3 ? 2 : 1;
    const client = this.secure ? "SASL_SSL" : "PLAINTEXT";
    const clientPort = this.port + 2 * node;
    const voters = Array.from(
      { length: this.nodes },
      (_, i) => `${i + 1}@127.0.0.1:${this.port + 2 * i + 1}`,
    ).join(",");
    const lines = [
      "# Written by scripts/kafka_local.ts: a node that is broker and controller.",
      "process.roles=broker,controller",
      `node.id=${node + 1}`,
      `controller.quorum.voters=${voters}`,
      `listeners=${client}://127.0.0.1:${clientPort},CONTROLLER://127.0.0.1:${
        clientPort + 1
      }`,
      `advertised.listeners=${client}://127.0.0.1:${clientPort}`,
      `inter.broker.listener.name=${client}`,
      "controller.listener.names=CONTROLLER",
      // The controllers talk on 127.0.0.1 only; clients and brokers use `client`.
      `listener.security.protocol.map=CONTROLLER:PLAINTEXT,${client}:${client}`,
      `log.dirs=${dir}/data`,
      "num.partitions=1",
      "auto.create.topics.enable=true",
      // As many copies as there are nodes, up to 3; internal topics too.
      `default.replication.factor=${copies}`,
      `min.insync.replicas=${minInSync}`,
      `offsets.topic.replication.factor=${copies}`,
      "offsets.topic.num.partitions=1",
      `share.coordinator.state.topic.replication.factor=${copies}`,
      `share.coordinator.state.topic.min.isr=${minInSync}`,
      `transaction.state.log.replication.factor=${copies}`,
      `transaction.state.log.min.isr=${minInSync}`,
      "group.initial.rebalance.delay.ms=0",
      // A lost node is fenced (and dropped from every ISR) after 4 s, not 9 s.
      "broker.heartbeat.interval.ms=1000",
      "broker.session.timeout.ms=4000",
      // Room for 512 KiB chunks plus the batch around them.
      "message.max.bytes=10485760",
    ];
    if (secrets && tls) {
      const keystore = await Deno.realPath(tls.keystore);
      lines.push(
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
        `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${
          jaasLine(BROKER_USER, secrets.brokerPassword)
        }`,
        "ssl.keystore.type=PKCS12",
        `ssl.keystore.location=${keystore}`,
        `ssl.keystore.password=${secrets.keystorePassword}`,
        // The keystore holds the CA as a trusted entry: brokers trust each other.
        "ssl.truststore.type=PKCS12",
        `ssl.truststore.location=${keystore}`,
        `ssl.truststore.password=${secrets.keystorePassword}`,
      );
    }
    // It holds passwords when secure: only its owner may read it.
    await Deno.writeTextFile(
      `${dir}/server.properties`,
      lines.join("\n") + "\n",
      { mode: 0o600 },
    );
    await Deno.chmod(`${dir}/server.properties`, 0o600);
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
      // One line per failed login, so a retry storm would show.
      "logger.auth.name = org.apache.kafka.common.network.Selector",
      "logger.auth.level = INFO",
    ].join("\n");
    await Deno.writeTextFile(`${dir}/log4j2.properties`, log4j + "\n");
  }

  /**
   * Formats each node's storage the first time only, all with one cluster id;
   * a secure cluster gets its SCRAM users then.
   */
  async #formatStorage(
    classpath: string,
    secrets: LocalSecrets | undefined,
    onProgress: (line: string) => void,
  ): Promise<void> {
    const unformatted: number[] = [];
    for (let node = 0; node < this.nodes; node++) {
      const formatted = await Deno.stat(
        `${this.nodeDir(node)}/data/meta.properties`,
      ).then(() => true, () => false);
      if (!formatted) unformatted.push(node);
    }
    if (unformatted.length === 0) return;
    const fresh = unformatted.length === this.nodes;
    const clusterId = (!fresh && this.#record?.clusterId) ||
      (await runJava(classpath, ["kafka.tools.StorageTool", "random-uuid"]))
        .trim().split("\n").at(-1)!;
    const scram: string[] = [];
    if (secrets && fresh) {
      // The users live in the metadata log: added once, when it is created.
      const user = await chooseUserCredentials(
        this.dir,
        (name) => Deno.env.get(name),
      );
      for (
        const [name, password] of [
          [user.username, user.password],
          [BROKER_USER, secrets.brokerPassword],
        ]
      ) {
        scram.push("--add-scram", await scramArgument(name, password));
      }
    }
    for (const node of unformatted) {
      onProgress(`Formatting storage in ${this.nodeDir(node)}/data ...`);
      await runJava(classpath, [
        "kafka.tools.StorageTool",
        "format",
        "-t",
        clusterId,
        "-c",
        `${this.nodeDir(node)}/server.properties`,
        "--ignore-formatted",
        ...scram,
      ]);
    }
    this.#record = { nodes: this.nodes, secure: this.secure, clusterId };
    await Deno.writeTextFile(
      `${this.dir}/cluster.json`,
      JSON.stringify(this.#record) + "\n",
    );
  }

  /** Starts node i's java detached from this process, output appended to broker.out. */
  async #launch(node: number, classpath: string): Promise<number> {
    const dir = await Deno.realPath(this.nodeDir(node));
    const out = openSync(`${dir}/broker.out`, "a");
    const child = spawn("java", [
      `-Xms256m`,
      `-Xmx${this.heap}`,
      `-Dlog4j2.configurationFile=${dir}/log4j2.properties`,
      "-cp",
      classpath,
      "kafka.Kafka",
      `${dir}/server.properties`,
    ], { detached: true, stdio: ["ignore", out, out] });
    child.unref();
    closeSync(out);
    if (child.pid === undefined) throw new UserError("could not start java");
    return child.pid;
  }

  /** Kills what was started and explains why node i did not come up. */
  async #startFailure(
    node: number,
    pids: Map<number, number>,
    what: string,
  ): Promise<UserError> {
    for (const pid of pids.values()) {
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
    }
    return new UserError(
      `Kafka node ${node} ${what} on ${this.address(node)}; last lines of ${
        this.logFile(node)
      }:\n${await lastLogLines(this.nodeDir(node))}`,
    );
  }
}

/** `cluster.json` of a cluster folder; a folder from before clusters is one plain node. */
async function readRecord(dir: string): Promise<ClusterRecord | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/cluster.json`));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  try {
    const meta = await Deno.readTextFile(`${dir}/data/meta.properties`);
    const clusterId = meta.match(/^cluster\.id=(.*)$/m)?.[1] ?? randomSecret();
    return { nodes: 1, secure: false, clusterId };
  } catch {
    return undefined;
  }
}

/** "3-node SASL_SSL" and the like. */
function describeShape(shape: { nodes: number; secure: boolean }): string {
  return `${shape.nodes}-node ${shape.secure ? "SASL_SSL" : "PLAINTEXT"}`;
}

/** The last lines of a node's log and console output. */
async function lastLogLines(dir: string, count = 15): Promise<string> {
  const texts: string[] = [];
  for (const file of [`${dir}/broker.log`, `${dir}/broker.out`]) {
    try {
      texts.push(...(await Deno.readTextFile(file)).trimEnd().split("\n"));
    } catch {
      // The broker may have died before writing anything.
    }
  }
  return texts.slice(-count).join("\n") || "(no log lines)";
}

/**
 * A process's command line, from `ps` (Deno refuses `/proc/<pid>` to a
 * script that may run programs); empty when it cannot be read.
 */
async function commandLine(pid: number): Promise<string> {
  try {
    const result = await new Deno.Command("ps", {
      args: ["-ww", "-o", "args=", "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(result.stdout).trim();
  } catch {
    return "";
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
  await runInstalled(
    name,
    { args: [versionFlag], stdout: "null", stderr: "null" },
    "install Java 17 and Maven (Debian: apt-get install openjdk-17-jre-headless maven), " +
      "or run Kafka in Docker instead: docker run -d -p 9092:9092 apache/kafka:4.1.2",
  );
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

/** Runs `ask` with a short-lived admin of no patience; false if anything fails. */
async function probe(
  brokers: string[],
  login: ProbeLogin,
  ask: (admin: Admin) => Promise<unknown>,
): Promise<boolean> {
  const client = new KafkaClient({
    ...login,
    brokers,
    clientId: "kafka_local-probe",
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = KafkaClient.kafkajs(client).admin();
  try {
    await admin.connect();
    await ask(admin);
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Whether the cluster's group coordinator answers (a group lookup works). */
function coordinatorAnswers(
  bootstrapServers: string,
  login: ProbeLogin,
): Promise<boolean> {
  return probe(bootstrapServers.split(","), login, async (admin) => {
    // kafkajs looks for the coordinator among the brokers metadata named.
    await admin.fetchTopicMetadata({ topics: [] });
    await admin.describeGroups(["kafka_local-probe"]);
  });
}

/**
 * Whether a Kafka broker at `bootstrapServer` answers a metadata request
 * (`login`: TLS and SASL settings for a secure broker).
 *
 * @example
 * ```ts
 * if (!await answersMetadata("127.0.0.1:9092")) console.log("no broker");
 * ```
 */
export function answersMetadata(
  bootstrapServer: string,
  login: ProbeLogin = {},
): Promise<boolean> {
  return probe(
    [bootstrapServer],
    login,
    (admin) => admin.fetchTopicMetadata({ topics: [] }),
  );
}
