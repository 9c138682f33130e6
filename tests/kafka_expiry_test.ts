/**
 * Files that never complete, against a real broker: hand-made chunk
 * messages each announce a big file and send one chunk. The reconstructor
 * gives them up after `--expire_seconds`, so the group's committed offset
 * moves past them (lag 0) and a restart does not read them again.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { encodeChunk, type FileChunk, sha512 } from "../lib/transfer/chunk.ts";
import {
  makeChunks,
  produceRaw,
  randomBytes,
  Reconstructor,
  startTestBroker,
  uniqueTopic,
  writeTestConfig,
} from "./helpers/kafka.ts";
import { makeOutTempDir, ROOT } from "./helpers/run_task.ts";

const CHUNK = 1024;
/** Files that announce this many bytes and send one chunk. */
const ANNOUNCED = 64 * 1024 * 1024;
const HOSTILE = 3;

/** The first chunk of a file of {@linkcode ANNOUNCED} bytes that never comes whole. */
function neverCompleting(i: number): FileChunk {
  const data = randomBytes(CHUNK, 1000 + i);
  return {
    filename: `hostile_${i}.bin`,
    fileHash: sha512(randomBytes(64, i)),
    chunkHash: sha512(data),
    offset: 0,
    chunkIndex: 1,
    totalChunks: ANNOUNCED / CHUNK,
    subdir: "",
    filenameAppend: "",
    data,
  };
}

/** Types `check` until the share line shows `pattern`; fails after 30 s. */
async function checkShows(task: Reconstructor, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const before = task.stdout.text.length;
    await task.type("check");
    await new Promise((r) => setTimeout(r, 700));
    if (pattern.test(task.stdout.text.slice(before))) return;
  }
  throw new Error(`check never showed ${pattern}:\n${task.stdout.text}`);
}

Deno.test("never-completing files are given up after --expire_seconds: lag 0, a restart reads nothing again", async () => {
  const broker = await startTestBroker();
  const dir = await makeOutTempDir("expiry");
  const config = await writeTestConfig(dir, broker.bootstrap);
  const topic = uniqueTopic("expiry");
  const workingDir = `${dir}/rebuilt`;
  const group = ["--consumer_group_ID", `${topic}-group`, "--n_threads", "1"];
  try {
    const whole = randomBytes(3 * CHUNK + 7);
    const messages = [
      ...Array.from({ length: HOSTILE }, (_, i) => neverCompleting(i)),
      ...makeChunks(whole, "whole.bin", CHUNK),
    ].map(encodeChunk);
    await produceRaw(broker.bootstrap, topic, messages);

    const first = Reconstructor.start(config, topic, workingDir, [
      ...group,
      "--expire_seconds",
      "3",
    ]);
    await first.waitForFiles([[`${workingDir}/whole.bin`, whole.length]]);
    for (let i = 0; i < HOSTILE; i++) {
      await first.stdout.waitFor(`gave up hostile_${i}.bin: no chunk for 3 s`);
    }
    await checkShows(first, /0 file\(s\) in progress; group lag 0 message/);
    const run = await first.quit();
    deepStrictEqual(run.code, 0, run.stderr);
    const partials = [];
    for await (
      const entry of Deno.readDir(
        `${ROOT}${workingDir}/.reconstruct_data_files/partial`,
      )
    ) partials.push(entry.name);
    deepStrictEqual(partials, []);

    // Restarted with the same group: everything was committed.
    const again = Reconstructor.start(config, topic, workingDir, group);
    await again.stdout.waitFor("Reading topic");
    await new Promise((r) => setTimeout(r, 3000));
    const second = await again.quit();
    deepStrictEqual(second.code, 0, second.stderr);
    ok(/Stopped\. 0 messages read/.test(second.stdout), second.stdout);
  } finally {
    await broker.stop();
    await Deno.remove(`${ROOT}${dir}`, { recursive: true }).catch(() => {});
  }
});
