/**
 * Heartbeat and log messages of the watcher and the reconstructor, read back
 * by OpenMSIStream's own consumer class (Debian's python3, ../shared/peers):
 * keys `ID_heartbeat` / `ID_log`, ISO timestamps Python parses, the counts
 * since the last heartbeat adding up to what was sent and rebuilt. And a
 * `[heartbeat]` broker that does not answer costs one warning, not the upload.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { parseKafkaConfig } from "../lib/kafka/config.ts";
import { BackgroundTask } from "./helpers/background_task.ts";
import {
  heartbeatArgs,
  Reconstructor,
  startTestBroker,
  type TestBroker,
  topicArgs,
  uniqueTopic,
  writeRandomFile,
  writeTestConfig,
} from "./helpers/kafka.ts";
import { PEER_PYTHONPATH } from "./helpers/openmsistream.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";
import { freePort } from "./helpers/streaming.ts";

const CHUNK = 16384;
const SIZE = 100 * 1024;
const CHUNKS = Math.ceil(SIZE / CHUNK);

/**
 * OpenMSIStream's documented way to read heartbeats (OpenMSIStreamConsumer
 * around confluent-kafka's DeserializingConsumer), stopping after 5 s
 * without a message; prints one JSON line per message, with the timestamp
 * as Python's datetime parsed it.
 */
const PYTHON_READER = `
import datetime, json, sys, uuid
from confluent_kafka import DeserializingConsumer
from confluent_kafka.serialization import StringDeserializer
from openmsistream.kafka_wrapper import OpenMSIStreamConsumer
consumer = OpenMSIStreamConsumer(DeserializingConsumer, {
    "bootstrap.servers": sys.argv[1],
    "key.deserializer": StringDeserializer(),
    "value.deserializer": StringDeserializer(),
    "group.id": str(uuid.uuid4()),
    "auto.offset.reset": "earliest",
})
consumer.subscribe(sys.argv[2:])
while True:
    msg = consumer.get_next_message(5)
    if msg is None:
        break
    value = json.loads(msg.value())
    stamp = value["timestamp"]
    parsed = (datetime.datetime.fromisoformat(stamp) if isinstance(stamp, str)
              else datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc))
    print(json.dumps({"key": msg.key(), "value": value, "utc": parsed.timestamp()}))
consumer.close()
`;

interface ReadBack {
  key: string;
  value: Record<string, unknown>;
  utc: number;
}

/** The messages of `topics`, as OpenMSIStream's consumer reads them. */
async function readWithOpenMsiStream(
  bootstrap: string,
  topics: string[],
): Promise<ReadBack[]> {
  const output = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", PYTHON_READER, bootstrap, ...topics],
    env: { PYTHONPATH: PEER_PYTHONPATH },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  deepStrictEqual(output.code, 0, stderr);
  return new TextDecoder().decode(output.stdout).split("\n")
    .filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
}

/** The sum of field `name` over `messages`. */
function sum(messages: ReadBack[], name: string): number {
  return messages.reduce((total, m) => total + Number(m.value[name] ?? 0), 0);
}

let broker: TestBroker;

Deno.test({
  name: "heartbeats: setup broker",
  fn: async () => {
    broker = await startTestBroker();
  },
  sanitizeResources: false,
  sanitizeOps: false,
});

Deno.test({
  name:
    "heartbeats: OpenMSIStream's consumer reads the watcher's, the reconstructor's and a stream processor's heartbeats and logs",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await makeOutTempDir("heartbeats");
    const config = await writeTestConfig(dir, broker.bootstrap);
    const files = uniqueTopic("hb_files");
    const beats = uniqueTopic("hb_beats");
    const logs = uniqueTopic("hb_logs");
    const watched = `${dir}/watched`;
    await Deno.mkdir(`${ROOT}${watched}`);
    const watcher = new BackgroundTask("upload_data_files_added_to_directory", [
      ...topicArgs(config, files, CHUNK),
      "--settle_seconds=0.5",
      ...heartbeatArgs(beats, "lab-pc-1"),
      "--log_topic_name",
      logs,
      "--log_program_id",
      "lab-pc-1",
      "--log_interval_secs",
      "1",
      watched,
    ]);
    await watcher.stdout.waitFor("Watching");
    await writeRandomFile(`${ROOT}${watched}/scope.bin`, SIZE);
    await watcher.stdout.waitFor("Uploaded scope.bin");
    const rebuilt = `${dir}/rebuilt`;
    const reconstructor = Reconstructor.start(config, files, rebuilt, [
      ...heartbeatArgs(beats, "rebuild-1"),
    ]);
    await reconstructor.finish([[`${rebuilt}/scope.bin`, SIZE]]);
    // A stream processor on the same topic beats too.
    const processing = new BackgroundTask("process_data_files", [
      ...topicArgs(config, files),
      "--processor",
      "scripts/processors/sha512_check.ts",
      "--working_dir",
      `${dir}/processing`,
      ...heartbeatArgs(beats, "process-1"),
    ]);
    await processing.stdout.waitFor("Processed scope.bin");
    deepStrictEqual((await processing.quit()).code, 0);
    deepStrictEqual((await watcher.quit()).code, 0);

    const read = await readWithOpenMsiStream(broker.bootstrap, [beats, logs]);
    const watcherBeats = read.filter((m) => m.key === "lab-pc-1_heartbeat");
    const rebuildBeats = read.filter((m) => m.key === "rebuild-1_heartbeat");
    const logLines = read.filter((m) => m.key === "lab-pc-1_log")
      .flatMap((m) => m.value.messages as string[]);
    ok(watcherBeats.length >= 2, JSON.stringify(read));
    ok(rebuildBeats.length >= 1, JSON.stringify(read));
    // Python parsed every timestamp, within a minute of now.
    for (const m of read) ok(Math.abs(m.utc * 1000 - Date.now()) < 60_000);
    // The counts since the last heartbeat add up to what was done.
    deepStrictEqual(sum(watcherBeats, "n_messages_produced"), CHUNKS);
    deepStrictEqual(sum(watcherBeats, "n_bytes_produced"), SIZE);
    deepStrictEqual(sum(watcherBeats, "n_files_produced"), 1);
    deepStrictEqual(watcherBeats[0].value.host, Deno.hostname());
    deepStrictEqual(sum(rebuildBeats, "n_messages_read"), CHUNKS);
    deepStrictEqual(sum(rebuildBeats, "n_messages_processed"), CHUNKS);
    ok(sum(rebuildBeats, "n_bytes_read") > SIZE);
    deepStrictEqual(sum(rebuildBeats, "n_files_processed"), 1);
    const processBeats = read.filter((m) => m.key === "process-1_heartbeat");
    deepStrictEqual(sum(processBeats, "n_messages_read"), CHUNKS);
    deepStrictEqual(sum(processBeats, "n_files_processed"), 1);
    ok(
      logLines.some((line) => line.includes("Uploaded scope.bin")),
      logLines.join("\n"),
    );
    ok(
      logLines.some((line) => line.includes("Stopped (quit)")),
      logLines.join("\n"),
    );
  },
});

Deno.test({
  name:
    "heartbeats: a [heartbeat] broker that does not answer costs one warning, and the file is still uploaded",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await makeOutTempDir("heartbeats_dead");
    const deadPort = await freePort("tcp");
    const config = await writeTestConfig(dir, broker.bootstrap);
    await Deno.writeTextFile(
      `${ROOT}${config}`,
      `\n[heartbeat]\nbootstrap.servers = 127.0.0.1:${deadPort}\nsocket.connection.setup.timeout.ms = 500\n`,
      { append: true },
    );
    const watched = `${dir}/watched`;
    await Deno.mkdir(`${ROOT}${watched}`);
    await writeRandomFile(`${ROOT}${watched}/a.bin`, 5000);
    const watcher = new BackgroundTask("upload_data_files_added_to_directory", [
      ...topicArgs(config, uniqueTopic("hb_dead"), CHUNK),
      "--settle_seconds=0.5",
      "--heartbeat_topic_name",
      uniqueTopic("hb_dead_beats"),
      "--heartbeat_interval_secs",
      "0.5",
      watched,
    ]);
    await watcher.stdout.waitFor("Uploaded a.bin");
    await watcher.stdout.waitFor("could not be sent");
    const { code, stdout } = await watcher.quit();
    deepStrictEqual(code, 0, stdout);
    // One warning until sends work again, not one per interval.
    deepStrictEqual(stdout.match(/could not be sent/g)?.length, 1, stdout);
  },
});

Deno.test("heartbeats: a heartbeat or log topic Kafka would refuse is one line naming the flag, before anything is sent", async () => {
  for (
    const [task, flag] of [
      ["upload_data_files_added_to_directory", "--heartbeat_topic_name"],
      ["reconstruct_data_files", "--log_topic_name"],
    ]
  ) {
    const { code, stdout, stderr } = await runTask(task, [
      "--config",
      "out/no-such.config",
      flag,
      "beats and logs",
      "out",
    ]);
    const output = (stdout + stderr).trim();
    deepStrictEqual(code, 2, output);
    ok(
      output.includes(`${flag} "beats and logs" is not a Kafka topic name`),
      output,
    );
    deepStrictEqual(output.split("\n").length, 1, output);
  }
});

Deno.test("heartbeats: a [heartbeat] section with its own broker and login is read as OpenMSIStream reads it", () => {
  const warnings: string[] = [];
  const settings = parseKafkaConfig(
    "[cluster]\nbootstrap.servers = lab:9092\n[heartbeat]\nbootstrap.servers = monitor:9093\nsecurity.protocol = SASL_PLAINTEXT\nsasl.mechanism = PLAIN\nsasl.username = u\nsasl.password = p\nprefer.separate.producer = True\n[log]\nacks = 1\n",
    "test.config",
    () => undefined,
    (w) => warnings.push(w),
  );
  deepStrictEqual(settings.heartbeat?.client?.brokers, ["monitor:9093"]);
  deepStrictEqual(settings.heartbeat?.client?.sasl?.username, "u");
  deepStrictEqual(settings.log?.client, undefined); // the [cluster]'s broker
  deepStrictEqual(settings.log?.producer.acks, 1);
  deepStrictEqual(warnings, []);
});

Deno.test({
  name: "heartbeats: release the shared broker",
  fn: async () => {
    await broker.stop();
  },
  sanitizeResources: false,
  sanitizeOps: false,
});
