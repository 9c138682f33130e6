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
import process from "node:process";
import { UserError } from "../common/cli.ts";
import { sleep } from "../common/shutdown.ts";
import { writeNodeConfig } from "./broker_config.ts";
import {
  type ClusterRecord,
  describeShape,
  formatStorage,
  readClusterRecord,
} from "./cluster_storage.ts";
import {
  answersMetadata,
  coordinatorAnswers,
  probeLogin,
} from "./broker_probe.ts";
import {
  awaitExit,
  isAlive,
  isBrokerOf,
  killAll,
  lastLogLines,
  launchBroker,
  readPidFile,
} from "./broker_process.ts";
import {
  clientConfigText,
  credentialsPath,
  ensureTlsFiles,
  loadOrCreateSecrets,
} from "./local_security.ts";
import {
  requireCommand,
  resolveClasspath,
  STATE_ROOT,
} from "./maven_classpath.ts";
/** How long `start` waits for every node's first metadata answer. */
const START_TIMEOUT_MS = 120_000;
/** How long `stop` waits for a graceful shutdown before SIGKILL. */
const STOP_TIMEOUT_MS = 30_000;
/** More nodes than this is no longer a local drill. */
const MAX_NODES = 9;

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
    const record = await readClusterRecord(`${STATE_ROOT}/${port}`);
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
        } one; \`deno task kafka wipe --port ${port}\` removes it (every topic in it), or use another --port`,
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
      await writeNodeConfig({
        dir: this.nodeDir(node),
        node,
        port: this.port,
        nodes: this.nodes,
        secrets,
        tls,
      });
    }
    this.#record = await formatStorage({
      dir: this.dir,
      nodeDirs: this.#selectNodes().map((node) => this.nodeDir(node)),
      secure: this.secure,
      record: this.#record,
      classpath,
      secrets,
      onProgress,
    }) ?? this.#record;
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
      const pid = await launchBroker(this.nodeDir(node), this.heap, classpath);
      await Deno.writeTextFile(this.#pidFile(node), String(pid));
      pids.set(node, pid);
    }
    // Nodes of a quorum only come up together: wait for all at once.
    const probe = await probeLogin(this.dir, this.secure);
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
    await awaitExit(signalled, STOP_TIMEOUT_MS);
    for (const { node, outcome } of results) {
      if (outcome === "stopped") {
        await Deno.remove(this.#pidFile(node)).catch(() => {});
      }
    }
    return results;
  }

  /** Each node: its address, pid, and whether it runs and answers. */
  async status(): Promise<NodeStatus[]> {
    const probe = this.#record ? await probeLogin(this.dir, this.secure) : {};
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

  #readPid(node: number): Promise<number | undefined> {
    return readPidFile(this.#pidFile(node));
  }

  /** The pid of node i's broker if it runs (and really is that broker). */
  async #brokerPid(node: number): Promise<number | undefined> {
    const pid = await this.#readPid(node);
    if (pid === undefined || !isAlive(pid)) return undefined;
    return await this.#isOurBroker(node, pid) ? pid : undefined;
  }

  /** Whether `pid` is a Kafka broker started with node i's server.properties. */
  #isOurBroker(node: number, pid: number): Promise<boolean> {
    return isBrokerOf(this.nodeDir(node), pid);
  }

  /** Kills what was started and explains why node i did not come up. */
  async #startFailure(
    node: number,
    pids: Map<number, number>,
    what: string,
  ): Promise<UserError> {
    killAll(pids.values());
    return new UserError(
      `Kafka node ${node} ${what} on ${this.address(node)}; last lines of ${
        this.logFile(node)
      }:\n${await lastLogLines(this.nodeDir(node))}`,
    );
  }
}
