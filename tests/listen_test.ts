/**
 * Tests for scripts/listen.ts: a real listener process receiving from real
 * streamer processes (and from raw sockets) on 127.0.0.1.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import dgram from "node:dgram";
import {
  makeOutTempDir,
  ROOT,
  runTask,
  spawnTask,
  type TaskResult,
} from "./helpers/run_task.ts";
import {
  freePort,
  type OutputWatcher,
  watchOutputs,
} from "./helpers/streaming.ts";

/** The three oldest readings of data/batchfile_0_farenheit.csv. */
const FIRST_THREE_READINGS = [
  "[2023, 1, 1, 0:05, 13]",
  "[2023, 1, 1, 0:25, 13]",
  "[2023, 1, 1, 0:45, 14]",
];

/** A running `deno task listen`, with its output being read. */
interface RunningListener {
  child: Deno.ChildProcess;
  stdout: OutputWatcher;
  stderr: OutputWatcher;
  /** Exit code and all output, once it has ended (killed after 30 s). */
  finished(): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Starts `deno task listen` and waits until it says it is listening. */
async function startListener(args: string[]): Promise<RunningListener> {
  const child = spawnTask("listen", args);
  const { stdout, stderr } = watchOutputs(child, "listen");
  // A lost datagram must fail the test, not hang it.
  const guard = setTimeout(() => child.kill("SIGTERM"), 30_000);
  const finished = async () => {
    const { code } = await child.status;
    clearTimeout(guard);
    return { code, stdout: await stdout.all(), stderr: await stderr.all() };
  };
  try {
    await stdout.waitFor("Hit CTRL-c to stop.");
  } catch (error) {
    child.kill("SIGTERM");
    await finished();
    throw error;
  }
  return { child, stdout, stderr, finished };
}

/** The `Received from HOST:PORT: TEXT` lines, as [sender, text] pairs. */
function receivedLines(stdout: string): [string, string][] {
  return [...stdout.matchAll(/ - INFO - Received from ([\d.]+:\d+): (.*)$/gm)]
    .map((found) => [found[1], found[2]]);
}

/** Runs process_streaming_0 quickly: the first three readings to `port`. */
function streamThreeReadings(
  port: string,
  protocol: "udp" | "tcp",
): Promise<TaskResult> {
  return runTask("process_streaming_0", [
    ...["--protocol", protocol, "--port", port],
    ...["--delay", "0.05", "--limit", "3"],
  ]);
}

Deno.test("a UDP round trip: listen --count 3 prints process_streaming_0's three messages, saves them, and exits 0", async () => {
  const dir = await makeOutTempDir("listen-udp");
  try {
    const port = String(await freePort("udp"));
    const listener = await startListener([
      "--port",
      port,
      "--count",
      "3",
      "--output",
      `${dir}/received.txt`,
    ]);
    match(
      listener.stdout.text,
      new RegExp(`Listening for UDP messages on 127\\.0\\.0\\.1:${port}\\.`),
    );
    const streamer = await streamThreeReadings(port, "udp");
    strictEqual(streamer.code, 0, streamer.stderr);
    const { code, stdout } = await listener.finished();

    strictEqual(code, 0);
    const lines = receivedLines(stdout);
    deepStrictEqual(lines.map(([, text]) => text), FIRST_THREE_READINGS);
    match(lines[0][0], /^127\.0\.0\.1:\d+$/);
    match(stdout, /INFO - Done: 3 messages received\. Listener closed\.\n$/);
    strictEqual(await Deno.readTextFile(`${ROOT}${dir}/received.txt`), stdout);
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

Deno.test("a TCP listener takes two senders at once and keeps each sender's messages in order", async () => {
  const port = String(await freePort("tcp"));
  const listener = await startListener([
    "--protocol",
    "tcp",
    "--port",
    port,
    "--count",
    "6",
  ]);
  const streamers = await Promise.all([
    streamThreeReadings(port, "tcp"),
    streamThreeReadings(port, "tcp"),
  ]);
  for (const streamer of streamers) strictEqual(streamer.code, 0);
  const { code, stdout } = await listener.finished();

  strictEqual(code, 0);
  const lines = receivedLines(stdout);
  const senders = [...new Set(lines.map(([sender]) => sender))];
  strictEqual(senders.length, 2, stdout);
  for (const sender of senders) {
    match(stdout, new RegExp(`INFO - ${sender} connected\\.`));
    deepStrictEqual(
      lines.filter(([from]) => from === sender).map(([, text]) => text),
      FIRST_THREE_READINGS,
    );
  }
});

Deno.test("TCP messages are framed by line breaks, however the bytes are split", async () => {
  const port = await freePort("tcp");
  const listener = await startListener([
    "--protocol",
    "tcp",
    "--port",
    String(port),
    "--count",
    "3",
  ]);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const encoder = new TextEncoder();
  // One message in two writes, two messages in one write, CRLF, and a last
  // line without a newline before the sender hangs up. The short pauses make
  // it likely that the pieces also arrive as separate reads.
  for (const piece of ["first ha", "lf\nsecond\r\nthi", "rd"]) {
    await conn.write(encoder.encode(piece));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  conn.close();
  const { code, stdout } = await listener.finished();

  strictEqual(code, 0);
  deepStrictEqual(receivedLines(stdout).map(([, text]) => text), [
    "first half",
    "second",
    "third",
  ]);
});

Deno.test("SIGINT stops the listener cleanly with exit code 0", async () => {
  const port = String(await freePort("udp"));
  const listener = await startListener(["--port", port]);
  listener.child.kill("SIGINT");
  const { code, stdout, stderr } = await listener.finished();

  strictEqual(code, 0, stderr);
  strictEqual(stderr, "");
  match(
    stdout,
    /INFO - Stopped by SIGINT: 0 messages received\. Listener closed\.\n$/,
  );
});

Deno.test("a port that is already taken ends with a one-line error and exit code 1", async () => {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  try {
    const port = socket.address().port;
    const run = await runTask("listen", ["--port", String(port)]);
    strictEqual(run.code, 1);
    strictEqual(
      run.stderr.trim(),
      `listen: error: UDP port ${port} on 127.0.0.1 is already in use; is another listener running?`,
    );
    ok(!run.stdout.includes("Listening"));
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
});

Deno.test("listen --port 65536 is a one-line usage error with exit code 2", async () => {
  const { code, stderr } = await runTask("listen", ["--port", "65536"]);
  strictEqual(code, 2);
  strictEqual(
    stderr,
    "listen: error: --port must be at most 65535, not 65536 (see --help)\n",
  );
});

for (const protocol of ["udp", "tcp"]) {
  Deno.test(`listen --host 0.0.0.0 over ${protocol} is one line, no Uncaught NotCapable`, async () => {
    const run = await runTask("listen", [
      "--host",
      "0.0.0.0",
      "--protocol",
      protocol,
    ]);
    strictEqual(run.code, 2, run.stderr);
    strictEqual(
      run.stderr,
      "listen: error: --host 0.0.0.0: this task may only use this machine (127.0.0.1 or localhost), as its --allow-net says (see --help)\n",
    );
  });
}
