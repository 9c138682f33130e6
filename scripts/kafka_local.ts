/**
 * # A local Apache Kafka: one broker or a cluster, start, stop, status
 *
 * ```sh
 * deno task kafka start               # fetch the jars once, format storage once, start
 * deno task kafka status              # one line per node: address, pid, up or down; disk use
 * deno task kafka stop                # graceful shutdown of every node
 * deno task kafka start --nodes 3     # a 3-node cluster on 9092, 9094, 9096
 * deno task kafka stop --node 1       # drill: lose one node of the cluster ...
 * deno task kafka start --node 1      # ... and bring it back
 * deno task kafka start --secure      # SASL_SSL with SCRAM-SHA-512, self-signed CA
 * deno task kafka wipe                # stop, then delete every topic, log and setting
 * ```
 *
 * Permissions: `--allow-run` (the broker is a Java program, Maven fetches its
 * jars, keytool makes the certificates, `ps` confirms that a pid is our
 * broker, and stopping one means sending it a signal), `--allow-read` (the
 * pom, `$KAFKA_HOME/libs`), `--allow-write=.kafka` (the brokers' data and logs),
 * `--allow-net` (ask each broker whether it answers), `--allow-env` (the Kafka
 * client's `DEBUG` variables, and `KAFKA_USERNAME` / `KAFKA_PASSWORD` for
 * `--secure`), `--allow-sys=statfs` (the free space on the brokers' disk).
 *
 * The upload and reconstruct scripts need a broker to talk to. This script
 * runs real ones in KRaft mode on 127.0.0.1, from the jars listed in
 * `config/kafka_local/pom.xml`. With `--nodes N` each node is broker and
 * controller; node i serves clients on `--port` + 2i and its controller on
 * `--port` + 2i + 1. A cluster folder remembers how it was made, so `stop`
 * and `status` need only `--port`.
 *
 * A broker keeps every topic until it is deleted (seven days by default), so
 * a PC that tests or benchmarks a lot fills its disk, and a broker whose disk
 * is full stops. `wipe` gives the space back: it stops the nodes and removes
 * the cluster's folder; the next `start` begins with an empty cluster.
 *
 * Try: start 3 nodes, upload a big file with `--config local3`, and
 * `stop --node 2` in the middle: the upload still ends with `Done!`.
 *
 * @module
 */
import { runMain, UsageError } from "../lib/common/cli.ts";
import { parseFlags } from "../lib/common/flags.ts";
import { folderBytes, freeBytes } from "../lib/common/disk_space.ts";
import { LocalCluster } from "../lib/kafka/broker.ts";
import {
  describeDiskUse,
  lowSpaceWarning,
} from "../lib/kafka/cluster_storage.ts";

/** Node 0's client port; its controller takes the next one. */
const DEFAULT_PORT = 9092;
/** The four things this script can do. */
const ACTIONS = ["start", "stop", "status", "wipe"];

/** Prints one line per node; true when every node is up. */
async function printStatus(cluster: LocalCluster): Promise<boolean> {
  const nodes = await cluster.status();
  for (const node of nodes) {
    const pid = node.pid === undefined ? "-" : String(node.pid);
    console.log(
      `node ${node.node}  ${node.address}  pid ${pid}  ${
        node.running ? "up" : "down"
      }  (${node.stateDir})`,
    );
  }
  return nodes.every((node) => node.running);
}

/** How to use a secure cluster: its client config and the two variables. */
async function printSecureHints(cluster: LocalCluster): Promise<void> {
  console.log(
    `Client config: ${cluster.clientConfigPath} (SASL_SSL, SCRAM-SHA-512, the CA in it).`,
  );
  const generated = await Deno.stat(cluster.credentialsPath).then(
    () => true,
    () => false,
  );
  console.log(
    generated
      ? `It reads $KAFKA_USERNAME and $KAFKA_PASSWORD; set them from the generated user with: set -a; . ${cluster.credentialsPath}; set +a`
      : "It reads $KAFKA_USERNAME and $KAFKA_PASSWORD: export the same values you gave at the first start.",
  );
}

/** Stops `node` (or every node), one line each. */
async function stopNodes(
  cluster: LocalCluster,
  node: number | undefined,
): Promise<void> {
  for (const result of await cluster.stop(node)) {
    const where = `Kafka node ${result.node} on ${
      cluster.address(result.node)
    }`;
    console.log(
      result.outcome === "stopped"
        ? `${where} stopped.`
        : result.outcome === "stale"
        ? `${where} was not running (its pid file named pid ${result.pid}, another process, left alone).`
        : `${where} was not running.`,
    );
  }
}

/**
 * What the cluster's folder holds and what its disk has left, with a warning
 * when little is left.
 */
async function diskUse(cluster: LocalCluster): Promise<string[]> {
  const path = await existing(cluster.dir);
  const used = path === cluster.dir ? await folderBytes(path) : 0;
  return describeDiskUse(cluster.dir, used, freeBytes(path));
}

/** `dir` if it exists, else "." (statfs needs a path that exists). */
async function existing(dir: string): Promise<string> {
  return await Deno.stat(dir).then(() => dir, () => ".");
}

/** Stops every node and removes the cluster's folder: topics, logs, settings. */
async function wipeCluster(cluster: LocalCluster): Promise<void> {
  const there = await Deno.stat(cluster.dir).then(() => true, () => false);
  if (!there) {
    console.log(`Nothing to remove: ${cluster.dir} does not exist.`);
    return;
  }
  await stopNodes(cluster, undefined);
  const bytes = await folderBytes(cluster.dir);
  await Deno.remove(cluster.dir, { recursive: true });
  console.log(
    `Removed ${cluster.dir} (${
      (bytes / 1e6).toFixed(1)
    } MB of topics, logs and settings); the next start begins empty.`,
  );
}

/** Carries out one action and returns the exit code. */
async function runAction(
  action: string,
  cluster: LocalCluster,
  node: number | undefined,
): Promise<number> {
  if (action === "start") {
    // Said before it starts: a full disk stops a broker later, without a word.
    const warning = lowSpaceWarning(freeBytes(await existing(cluster.dir)));
    if (warning) console.error(warning);
    await cluster.start((line) => console.log(line), node);
    console.log(
      node === undefined
        ? `Kafka is running on ${cluster.bootstrapServers} (data and logs in ${cluster.dir}).`
        : `Kafka node ${node} is running on ${
          cluster.address(node)
        } (data and logs in ${cluster.nodeDir(node)}).`,
    );
    if (cluster.secure) await printSecureHints(cluster);
    return 0;
  }
  if (action === "stop") {
    await stopNodes(cluster, node);
    return 0;
  }
  if (action === "wipe") {
    if (node !== undefined) {
      throw new UsageError("wipe removes the whole cluster: leave out --node");
    }
    await wipeCluster(cluster);
    return 0;
  }
  // `status` exits 3 when a node is down, so shell scripts can test it.
  const up = await printStatus(cluster);
  for (const line of await diskUse(cluster)) console.log(line);
  return up ? 0 : 3;
}

if (import.meta.main) {
  await runMain("kafka", async () => {
    const { flags, positionals } = parseFlags(Deno.args, {
      program: "kafka",
      summary:
        "Start, stop, check or wipe a local Apache Kafka: one node, or a cluster of --nodes.",
      positionals: "start|stop|status|wipe",
      flags: {
        port: {
          type: "number",
          default: DEFAULT_PORT,
          integer: true,
          min: 1,
          description:
            "node 0's client port on 127.0.0.1 (its controller uses port + 1)",
        },
        nodes: {
          type: "number",
          integer: true,
          min: 1,
          description:
            "nodes in the cluster (first start; default 1, later: as made)",
        },
        node: {
          type: "number",
          integer: true,
          min: 0,
          description: "start or stop only this node (0-based) of the cluster",
        },
        secure: {
          type: "boolean",
          description:
            "SASL_SSL with SCRAM-SHA-512 and a self-signed CA (first start)",
        },
      },
    });
    const action = positionals[0];
    if (positionals.length !== 1 || !ACTIONS.includes(action)) {
      throw new UsageError(`say what to do: ${ACTIONS.join(", ")}`);
    }
    const cluster = await LocalCluster.open({
      port: flags.port,
      nodes: flags.nodes,
      secure: flags.secure,
    });
    return runAction(action, cluster, flags.node);
  });
}

// A first `start --nodes 3` prints:
//
//   Formatting storage in .kafka/9092/node0/data ...
//   Formatting storage in .kafka/9092/node1/data ...
//   Formatting storage in .kafka/9092/node2/data ...
//   Starting Kafka node 0 on 127.0.0.1:9092 ...
//   Starting Kafka node 1 on 127.0.0.1:9094 ...
//   Starting Kafka node 2 on 127.0.0.1:9096 ...
//   Kafka is running on 127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096 (data and logs in .kafka/9092).
