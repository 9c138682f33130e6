/**
 * Test helpers for local clusters: a fresh cluster through the project's own
 * `deno task kafka start --nodes N [--secure]`, its nodes' pids, and what the
 * cluster says about a topic's leaders and in-sync replicas.
 *
 * Ports come from `TEST_KAFKA_CLUSTER_PORT` (3 nodes, default 19392: clients
 * on 19392/19394/19396) and `TEST_KAFKA_SECURE_PORT` (default 19492), so two
 * checkouts can run their tests side by side.
 *
 * @module
 */
import { connectTestAdmin } from "./kafka.ts";
import { ROOT, runTask, type TaskResult } from "./run_task.ts";

/** Node 0's client port of the tests' 3-node cluster. */
export const CLUSTER_PORT = Number(
  Deno.env.get("TEST_KAFKA_CLUSTER_PORT") ?? 19392,
);
/** The client port of the tests' SASL_SSL broker. */
export const SECURE_PORT = Number(
  Deno.env.get("TEST_KAFKA_SECURE_PORT") ?? 19492,
);

/** A cluster the tests started, and how to drive it. */
export class TestCluster {
  constructor(readonly port: number, readonly nodes: number) {}

  /** `.kafka/<port>`, relative to the project root. */
  get dir(): string {
    return `.kafka/${this.port}`;
  }

  /** Every node's client address. */
  get bootstrap(): string {
    return Array.from(
      { length: this.nodes },
      (_, i) => `127.0.0.1:${this.port + 2 * i}`,
    ).join(",");
  }

  /**
   * Stops whatever ran on the port, removes its folder, and starts a fresh
   * cluster with `args`; returns the `start` run (which must succeed).
   */
  static async fresh(
    port: number,
    nodes: number,
    args: string[] = [],
    env?: Record<string, string>,
  ): Promise<{ cluster: TestCluster; started: TaskResult }> {
    const cluster = new TestCluster(port, nodes);
    await runTask("kafka", ["stop", "--port", String(port)]);
    await Deno.remove(`${ROOT}${cluster.dir}`, { recursive: true }).catch(
      () => {},
    );
    const started = await cluster.kafka(
      ["start", "--nodes", String(nodes), ...args],
      env,
    );
    if (started.code !== 0) {
      throw new Error(
        `the test cluster did not start:\n${started.stdout}\n${started.stderr}`,
      );
    }
    return { cluster, started };
  }

  /** Runs `deno task kafka ACTION --port <port> ...`. */
  kafka(args: string[], env?: Record<string, string>): Promise<TaskResult> {
    return runTask("kafka", [...args, "--port", String(this.port)], { env });
  }

  /** Stops every node. */
  async stop(): Promise<void> {
    await this.kafka(["stop"]);
  }

  /** Node i's folder (relative to the project root). */
  nodeDir(node: number): string {
    return this.nodes === 1 ? this.dir : `${this.dir}/node${node}`;
  }

  /** The pid in node i's pid file. */
  async pid(node: number): Promise<number> {
    return Number(
      await Deno.readTextFile(`${ROOT}${this.nodeDir(node)}/broker.pid`),
    );
  }
}

/** One partition as the cluster describes it. */
export interface PartitionState {
  /** The partition number. */
  partition: number;
  /** The leader's broker id (node index + 1). */
  leader: number;
  /** The broker ids of the in-sync replicas. */
  isr: number[];
  /** The broker ids of all replicas. */
  replicas: number[];
}

/**
 * What the (plaintext) cluster at `bootstrap` says about `topic`'s
 * partitions, and the topic's `min.insync.replicas`.
 *
 * @example
 * ```ts
 * const { partitions, minInSync } = await describeTopic(cluster.bootstrap, topic);
 * ```
 */
export async function describeTopic(
  bootstrap: string,
  topic: string,
): Promise<{ partitions: PartitionState[]; minInSync: number }> {
  const admin = await connectTestAdmin(bootstrap);
  try {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{
        type: 2,
        name: topic,
        configNames: ["min.insync.replicas"],
      }],
    });
    const minInSync = Number(
      configs.resources[0].configEntries.find((e) =>
        e.configName === "min.insync.replicas"
      )?.configValue,
    );
    return {
      partitions: metadata.topics[0].partitions.map((p) => ({
        partition: p.partitionId,
        leader: p.leader,
        isr: [...p.isr].sort(),
        replicas: [...p.replicas].sort(),
      })),
      minInSync,
    };
  } finally {
    await admin.disconnect();
  }
}
