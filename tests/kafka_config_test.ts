/**
 * Config files map onto the project's Kafka settings: sections, `$VARIABLES`, literal
 * values, SASL mechanisms, and a warning for keys with no effect.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  configPath,
  describeSettings,
  parseKafkaConfig,
} from "../lib/kafka/config.ts";
import { UserError } from "../lib/common/cli.ts";

const ENV: Record<string, string> = {
  KAFKA_API_KEY: "key-123",
  KAFKA_API_SECRET: "p%ss;w#rd=%(x)s",
};
const getEnv = (name: string) => ENV[name];

Deno.test("the shipped local config points at 127.0.0.1:9092 with acks from all replicas", async () => {
  const settings = parseKafkaConfig(
    await Deno.readTextFile("config/local.config"),
    "local",
    getEnv,
  );
  deepStrictEqual(settings.client.brokers, ["127.0.0.1:9092"]);
  strictEqual(settings.producer.acks, -1);
  // Small batches for a broker that answers within a millisecond: the
  // client's copies of bigger ones cost the upload 70 MB more (issue 22).
  strictEqual(settings.producer.batchBytes, 128 * 1024);
  strictEqual(
    settings.consumer.groupId,
    undefined,
    "group.id = new means a fresh group",
  );
  strictEqual(settings.consumer.fromBeginning, true);
});

Deno.test("the hosted-cluster example reads its credentials from the environment, % and ; included", async () => {
  const text = await Deno.readTextFile("config/confluent_cloud.config");
  const settings = parseKafkaConfig(
    text,
    "cc",
    (name) => ({ ...ENV, KAFKA_BOOTSTRAP: "h1:9092,h2:9092" })[name],
  );
  deepStrictEqual(settings.client.brokers, ["h1:9092", "h2:9092"]);
  strictEqual(settings.client.ssl, true);
  deepStrictEqual(settings.client.sasl, {
    mechanism: "plain",
    username: "key-123",
    password: "p%ss;w#rd=%(x)s",
  });
  strictEqual(settings.producer.compression, "lz4");
  ok(
    !describeSettings(settings).includes("p%ss"),
    "no secret in the description",
  );
  ok(
    !describeSettings(settings).includes("key-123"),
    "no user name in the description",
  );
});

Deno.test("an unset $VARIABLE is an error that names it", () => {
  throws(
    () =>
      parseKafkaConfig(
        "[cluster]\nbootstrap.servers = $NOPE_NOT_SET\n",
        "x.config",
        getEnv,
      ),
    (error: Error) =>
      error instanceof UserError && error.message.includes("NOPE_NOT_SET"),
  );
});

Deno.test("[broker] works like [cluster], and SCRAM mechanisms map to the client's names", () => {
  for (
    const [mechanism, expected] of [["SCRAM-SHA-256", "scram-sha-256"], [
      "SCRAM-SHA-512",
      "scram-sha-512",
    ]]
  ) {
    const settings = parseKafkaConfig(
      `[broker]\nbootstrap.servers = b:9093\nsecurity.protocol = SASL_PLAINTEXT\nsasl.mechanism = ${mechanism}\nsasl.username = u\nsasl.password = $KAFKA_API_SECRET\n`,
      "x",
      getEnv,
    );
    strictEqual(settings.client.sasl?.mechanism, expected);
    strictEqual(settings.client.ssl, undefined, "SASL_PLAINTEXT has no TLS");
  }
});

Deno.test("consumer settings: a named group, latest offsets, fetch sizes; keys without effect warn once", () => {
  const warnings: string[] = [];
  const settings = parseKafkaConfig(
    "[cluster]\nbootstrap.servers = a:1\n[consumer]\ngroup.id = lab\nauto.offset.reset = latest\nfetch.min.bytes = 100000\nenable.auto.commit = False\nsome.unknown.key = 1\n[producer]\nbatch.size = 200000\nlinger.ms = 100\nqueue.buffering.max.kbytes = 1\n",
    "x",
    getEnv,
    (w) => warnings.push(w),
  );
  strictEqual(settings.consumer.groupId, "lab");
  strictEqual(settings.consumer.fromBeginning, false);
  strictEqual(settings.consumer.minBytes, 100000);
  strictEqual(settings.producer.batchBytes, 200000);
  strictEqual(settings.producer.lingerMs, 100);
  strictEqual(warnings.length, 2, warnings.join("\n"));
  ok(warnings.some((w) => w.includes("some.unknown.key")));
  ok(warnings.some((w) => w.includes("queue.buffering.max.kbytes")));
});

Deno.test("group.id create_new means a fresh group; an unknown mechanism is a one-line error", () => {
  strictEqual(
    parseKafkaConfig(
      "[cluster]\nbootstrap.servers=a:1\n[consumer]\ngroup.id=create_new\n",
      "x",
      getEnv,
    ).consumer.groupId,
    undefined,
  );
  throws(
    () =>
      parseKafkaConfig(
        "[cluster]\nbootstrap.servers=a:1\nsecurity.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\n",
        "x",
        getEnv,
      ),
    /GSSAPI is not supported/,
  );
});

Deno.test("compression.type takes none, gzip, lz4, snappy and zstd; another codec is a one-line error", () => {
  for (const codec of ["none", "gzip", "lz4", "snappy", "zstd"]) {
    strictEqual(
      parseKafkaConfig(
        `[cluster]\nbootstrap.servers=a:1\n[producer]\ncompression.type=${codec.toUpperCase()}\n`,
        "x",
        getEnv,
      ).producer.compression,
      codec,
    );
  }
  throws(
    () =>
      parseKafkaConfig(
        "[cluster]\nbootstrap.servers=a:1\n[producer]\ncompression.type=brotli\n",
        "x",
        getEnv,
      ),
    (error: Error) =>
      error instanceof UserError &&
      error.message ===
        "compression.type brotli is not supported here (use none, gzip, lz4, snappy or zstd)",
  );
});

Deno.test("--config takes a name in config/ or a path", () => {
  strictEqual(configPath("local"), "config/local.config");
  strictEqual(configPath("out/my.config"), "out/my.config");
  strictEqual(configPath("my.config"), "my.config");
});

Deno.test("a config file with a syntax error is a one-line error naming the file", () => {
  throws(
    () =>
      parseKafkaConfig(
        "[cluster\nbootstrap.servers = a:1\n",
        "out/broken.config",
        getEnv,
      ),
    (error: Error) =>
      error instanceof UserError &&
      error.message.startsWith(
        "out/broken.config is not a valid config file:",
      ) &&
      !error.message.includes("\n"),
  );
});

Deno.test("[topic] sets the replication of new topics; unset, the cluster decides", () => {
  const settings = parseKafkaConfig(
    "[cluster]\nbootstrap.servers = a:1\n[topic]\nreplication.factor = 2\nmin.insync.replicas = 1\n",
    "x",
    getEnv,
  );
  deepStrictEqual(settings.topic, {
    replicationFactor: 2,
    minInSyncReplicas: 1,
  });
  deepStrictEqual(
    parseKafkaConfig("[cluster]\nbootstrap.servers = a:1\n", "x", getEnv).topic,
    { replicationFactor: undefined, minInSyncReplicas: undefined },
  );
});

Deno.test("the 3-node config lists the three local client ports", async () => {
  const settings = parseKafkaConfig(
    await Deno.readTextFile("config/local3.config"),
    "local3",
    getEnv,
  );
  deepStrictEqual(settings.client.brokers, [
    "127.0.0.1:9092",
    "127.0.0.1:9094",
    "127.0.0.1:9096",
  ]);
  strictEqual(settings.producer.acks, -1);
});

Deno.test("a CA file that cannot be read is a one-line error naming the key", () => {
  throws(
    () =>
      parseKafkaConfig(
        "[cluster]\nbootstrap.servers = a:1\nsecurity.protocol = SSL\nssl.ca.location = out/no-such-ca.pem\n",
        "x",
        getEnv,
      ),
    (error: Error) =>
      error instanceof UserError &&
      error.message.includes(
        "ssl.ca.location out/no-such-ca.pem cannot be read",
      ),
  );
});
