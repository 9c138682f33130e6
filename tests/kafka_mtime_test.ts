/**
 * Modification times to the microsecond, against a real broker: the project's
 * uploader sends `st_mtime` as OpenMSIStream does (the same float64), and the
 * reconstructor gives the rebuilt file that time to the microsecond, whether
 * the project or the real OpenMSIStream (../shared/peers) sent it.
 */
import { deepStrictEqual } from "node:assert/strict";
import { decodeChunk } from "../lib/transfer/chunk.ts";
import {
  createTopic,
  Reconstructor,
  startTestBroker,
  topicArgs,
  uniqueTopic,
  writeRandomFile,
  writeTestConfig,
} from "./helpers/kafka.ts";
import { readWithKcat } from "./helpers/kafka_readers.ts";
import {
  mtimeNanoseconds,
  openMsiUploadFile,
  pythonMtime,
  writeOpenMsiConfig,
} from "./helpers/openmsistream.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";

const CHUNK = 4096;

/** Source files and the times they get (GNU touch, to the nanosecond). */
const TIMES: Record<string, string> = {
  "whole_us.bin": "1700000000.123456",
  "odd_ns.bin": "1600000000.987654321",
  "late.bin": "2000000000.000001",
};

/** Sets a file's modification time with GNU touch (`@seconds.fraction`). */
async function touch(path: string, seconds: string): Promise<void> {
  const done = await new Deno.Command("touch", {
    args: ["-m", "-d", `@${seconds}`, path],
  }).output();
  deepStrictEqual(done.code, 0);
}

/** Nanoseconds rounded to whole microseconds. */
function micros(nanoseconds: bigint): bigint {
  return (nanoseconds + 500n) / 1000n;
}

Deno.test("modification times go through Kafka to the microsecond", async (t) => {
  const broker = await startTestBroker();
  const dir = await makeOutTempDir("mtime");
  const config = await writeTestConfig(dir, broker.bootstrap);
  const source = `${dir}/source`;
  await Deno.mkdir(`${ROOT}${source}`);
  for (const [name, time] of Object.entries(TIMES)) {
    await writeRandomFile(
      `${ROOT}${source}/${name}`,
      3 * CHUNK + 5,
      time.length,
    );
    await touch(`${ROOT}${source}/${name}`, time);
  }
  /** Rebuilds `topic` into `workingDir` and checks every time to the µs. */
  const rebuildAndCompare = async (topic: string, workingDir: string) => {
    await Reconstructor.rebuild(
      config,
      topic,
      workingDir,
      Object.keys(TIMES).map((
        name,
      ) => [`${workingDir}/${name}`, 3 * CHUNK + 5]),
    );
    for (const name of Object.keys(TIMES)) {
      const sent = await mtimeNanoseconds(`${ROOT}${source}/${name}`);
      const rebuilt = await mtimeNanoseconds(`${ROOT}${workingDir}/${name}`);
      deepStrictEqual(micros(rebuilt), micros(sent), name);
    }
  };
  try {
    await t.step(
      "project upload -> project rebuild: the float sent is Python's st_mtime, the rebuilt file has it to the microsecond",
      async () => {
        const topic = uniqueTopic("mtime_project");
        await createTopic(broker.bootstrap, topic, 1);
        const uploaded = await runTask("upload_data_file", [
          ...topicArgs(config, topic, CHUNK),
          ...Object.keys(TIMES).map((name) => `${source}/${name}`),
        ]);
        deepStrictEqual(uploaded.code, 0, uploaded.stderr);
        for (const { value } of await readWithKcat(broker.bootstrap, topic)) {
          const chunk = decodeChunk(value);
          const python = await pythonMtime(
            `${ROOT}${source}/${chunk.filename}`,
          );
          deepStrictEqual(chunk.mtime, python, chunk.filename);
        }
        await rebuildAndCompare(topic, `${dir}/from-project`);
      },
    );

    await t.step(
      "OpenMSIStream upload -> project rebuild: the rebuilt file has the time to the microsecond",
      async () => {
        const topic = uniqueTopic("mtime_openmsi");
        await createTopic(broker.bootstrap, topic, 1);
        const peerConfig = await writeOpenMsiConfig(dir, broker.bootstrap);
        for (const name of Object.keys(TIMES)) {
          await openMsiUploadFile(
            broker.bootstrap,
            peerConfig,
            topic,
            `${ROOT}${source}/${name}`,
            CHUNK,
          );
        }
        await rebuildAndCompare(topic, `${dir}/from-openmsistream`);
      },
    );
  } finally {
    await broker.stop();
    await Deno.remove(`${ROOT}${dir}`, { recursive: true }).catch(() => {});
  }
});
