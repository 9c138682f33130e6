/**
 * # A local Apache Kafka broker: start, stop, status
 *
 * ```sh
 * deno task kafka start     # fetch the jars once, format storage once, start
 * deno task kafka status    # is it running, and where?
 * deno task kafka stop      # graceful shutdown
 * ```
 *
 * Permissions: `--allow-run` (the broker is a Java program, Maven fetches its
 * jars, and stopping it means sending it a signal), `--allow-read` (the pom, `$KAFKA_HOME/libs`),
 * `--allow-write=.kafka` (the broker's data and logs), `--allow-net` (ask the
 * broker whether it answers), `--allow-env` (kafkajs reads a few variables).
 *
 * The upload and reconstruct scripts need a broker to talk to. This script
 * runs a real one, single node, in KRaft mode on 127.0.0.1:9092, from the
 * jars listed in `config/kafka_local/pom.xml`. With Docker you could instead
 * run `docker run -d -p 9092:9092 apache/kafka:4.1.2`; with the Apache tarball
 * set `KAFKA_HOME` and its `libs/` are used.
 *
 * Try: `deno task kafka start --port 19092` runs a second, separate broker
 * (its data in `.kafka/19092`), which is what the tests do.
 *
 * @module
 */
import { runMain, UsageError } from "../lib/common/cli.ts";
import { parseFlags } from "../lib/common/flags.ts";
import { LocalBroker } from "../lib/kafka/broker.ts";

/** The port clients connect to; the controller takes the next one. */
const DEFAULT_PORT = 9092;
/** The three things this script can do. */
const ACTIONS = ["start", "stop", "status"];

/** Carries out one action and returns the exit code. */
async function runAction(action: string, broker: LocalBroker): Promise<number> {
  if (action === "start") {
    await broker.start((line) => console.log(line));
    console.log(
      `Kafka is running on ${broker.bootstrapServer} (data and logs in ${broker.stateDir}).`,
    );
    return 0;
  }
  if (action === "stop") {
    const stopped = await broker.stop();
    console.log(
      stopped
        ? `Kafka on ${broker.bootstrapServer} stopped.`
        : `Kafka on ${broker.bootstrapServer} was not running.`,
    );
    return 0;
  }
  // `status` exits 3 when the broker is down, so shell scripts can test it.
  const status = await broker.status();
  console.log(
    status.running
      ? `Kafka is running on ${status.bootstrapServer} (pid ${status.pid}, data in ${status.stateDir}).`
      : `Kafka is not running on ${status.bootstrapServer}.`,
  );
  return status.running ? 0 : 3;
}

if (import.meta.main) {
  await runMain("kafka", () => {
    const { flags, positionals } = parseFlags(Deno.args, {
      program: "kafka",
      summary: "Start, stop or check a local single-node Apache Kafka broker.",
      positionals: "start|stop|status",
      flags: {
        port: {
          type: "number",
          default: DEFAULT_PORT,
          integer: true,
          min: 1,
          description:
            "client port on 127.0.0.1 (the controller uses port + 1)",
        },
      },
    });
    const action = positionals[0];
    if (positionals.length !== 1 || !ACTIONS.includes(action)) {
      throw new UsageError(`say what to do: ${ACTIONS.join(", ")}`);
    }
    return runAction(action, new LocalBroker({ port: flags.port }));
  });
}

// A first start prints:
//
//   Fetching the Kafka jars from Maven Central (first run only) ...
//   Formatting storage in .kafka/9092/data ...
//   Starting Kafka on 127.0.0.1:9092 ...
//   Kafka is running on 127.0.0.1:9092 (data and logs in .kafka/9092).
