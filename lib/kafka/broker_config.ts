/**
 * A local Kafka node's configuration files: its `server.properties` (KRaft,
 * broker and controller in one, optionally SASL_SSL) and its log4j2 file.
 *
 * @example
 * ```ts
 * import { writeNodeConfig } from "./broker_config.ts";
 *
 * await Deno.mkdir(".kafka/9092", { recursive: true });
 * await writeNodeConfig({ dir: ".kafka/9092", node: 0, port: 9092, nodes: 1 });
 * ```
 *
 * @module
 */
import {
  BROKER_USER,
  jaasLine,
  type LocalSecrets,
  type TlsFiles,
} from "./local_security.ts";

/** Which node's files to write, and for what cluster. */
export interface NodeConfigOptions {
  /** The node's folder (it must exist); its data go in `data/` below it. */
  dir: string;
  /** The node's index, 0-based (its `node.id` is index + 1). */
  node: number;
  /** Node 0's client port; node i uses port + 2i and port + 2i + 1. */
  port: number;
  /** How many nodes the quorum has. */
  nodes: number;
  /** The cluster's secrets, for a SASL_SSL cluster. */
  secrets?: LocalSecrets;
  /** The cluster's keystore, for a SASL_SSL cluster. */
  tls?: TlsFiles;
}

/**
 * Writes node i's server.properties (owner-only: it may hold passwords) and
 * log4j2 configuration; secure when both `secrets` and `tls` are given.
 *
 * @example
 * ```ts
 * await writeNodeConfig({ dir: ".kafka/9092/node1", node: 1, port: 9092, nodes: 3 });
 * ```
 */
export async function writeNodeConfig(
  options: NodeConfigOptions,
): Promise<void> {
  const { node, port, nodes, secrets, tls } = options;
  const dir = await Deno.realPath(options.dir);
  const copies = Math.min(3, nodes);
  const minInSync = copies >= 3 ? 2 : 1;
  const client = secrets && tls ? "SASL_SSL" : "PLAINTEXT";
  const clientPort = port + 2 * node;
  const voters = Array.from(
    { length: nodes },
    (_, i) => `${i + 1}@127.0.0.1:${port + 2 * i + 1}`,
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
