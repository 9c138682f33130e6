/**
 * Tests for scripts/process_streaming_0.ts and scripts/process_streaming_name.ts:
 * real tasks streaming over real sockets to a listener inside the test.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { parse } from "csv-parse/sync";
import { openReceiver, type Protocol } from "../lib/course/sockets.ts";
import {
  makeOutTempDir,
  ROOT,
  runTask,
  spawnTask,
} from "./helpers/run_task.ts";
import {
  collectMessages,
  freePort,
  watchOutputs,
} from "./helpers/streaming.ts";

const BIRD_COUNTS = "data/bird_counts_2024.csv";
const TEMPERATURES = "data/batchfile_0_farenheit.csv";

/** Parses CSV text the way a reader of out9.txt would. */
function parseCsv(text: string): string[][] {
  return parse(text, { bom: true, relax_column_count: true });
}

/** Reads a file in the project as text. */
function readProjectFile(path: string): Promise<string> {
  return Deno.readTextFile(`${ROOT}${path}`);
}

/** A listener on a port the system picks, like `deno task listen`. */
function listenHere(protocol: Protocol) {
  return openReceiver({ protocol, hostname: "127.0.0.1", port: 0 });
}

/** Runs a streamer task against a fresh TCP listener: its run and what arrived. */
async function streamOverTcp(task: string, args: (port: number) => string[]) {
  const receiver = await listenHere("tcp");
  const arriving = collectMessages(receiver, { disconnects: 1 });
  const run = await runTask(task, args(receiver.port));
  return { run, messages: await arriving };
}

/** Flags that keep process_streaming_name quick and inside `dir`. */
function nameFlags(dir: string, port: number, protocol: Protocol): string[] {
  return [
    "--output",
    `${dir}/out9.txt`,
    "--log",
    `${dir}/streaming_log.txt`,
    "--min_delay",
    "0",
    "--max_delay",
    "0.05",
    "--port",
    String(port),
    "--protocol",
    protocol,
  ];
}

/**
 * Streams the shipped readings with process_streaming_0 to a TCP listener at
 * full speed; returns the run and the texts that arrived.
 */
async function streamReadings(extra: string[] = []) {
  const { run, messages } = await streamOverTcp(
    "process_streaming_0",
    (port) => [
      ...["--delay", "0", "--protocol", "tcp", "--port", String(port)],
      ...extra,
    ],
  );
  return { run, messages: messages.map((message) => message.text) };
}

/** Writes `lines` as a CSV file in `dir` and streams it to a TCP listener. */
async function streamCsvLines(dir: string, lines: string[], eol: string) {
  const input = `${dir}/input.csv`;
  await Deno.writeTextFile(`${ROOT}${input}`, lines.join(eol));
  return await streamOverTcp(
    "process_streaming_name",
    (port) => [...nameFlags(dir, port, "tcp"), "--input", input],
  );
}

/**
 * Fails unless the run ended with exit code 0 after warning `warning` and
 * counting 3 rows streamed and 1 skipped.
 */
function assertOneRowSkipped(
  run: { code: number; stderr: string },
  warning: string,
): void {
  strictEqual(run.code, 0, run.stderr);
  ok(run.stderr.includes(warning), run.stderr);
  match(run.stderr, /Done: 3 rows streamed, 1 malformed rows skipped\./);
}

/** Runs `body` with a fresh folder in out/.tmp, removed afterwards. */
async function inTempDir(
  prefix: string,
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await makeOutTempDir(prefix);
  try {
    await body(dir);
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
}

/** Minutes since 1970 of a `[2023, 1, 3, 7:55, 12]` message. */
function messageMinutes(text: string): number {
  const [year, month, day, time] = text.slice(1, -1).split(", ");
  const [hours, minutes] = time.split(":").map(Number);
  return Date.UTC(+year, +month - 1, +day, hours, minutes) / 60_000;
}

Deno.test("TCP delivers every row in order and out9.txt parses back to exactly the input rows", async () => {
  await inTempDir("tcp-all-rows", async (dir) => {
    const { run, messages: arrived } = await streamOverTcp(
      "process_streaming_name",
      (port) => [
        ...nameFlags(dir, port, "tcp"),
      ],
    );
    const messages = arrived;
    strictEqual(run.code, 0, run.stderr);

    const input = parseCsv(await readProjectFile(BIRD_COUNTS));
    ok(input.length > 30, "the shipped data set has 30+ rows");
    deepStrictEqual(
      messages.map((message) => parseCsv(message.text)[0]),
      input.slice(1),
    );
    deepStrictEqual(parseCsv(await readProjectFile(`${dir}/out9.txt`)), input);
    match(run.stderr, /Done: 38 rows streamed, 0 malformed rows skipped\./);
    const log = await readProjectFile(`${dir}/streaming_log.txt`);
    match(
      log,
      /INFO - Sent and logged: 2024-04-06,06:40,"Heron Marsh, north blind"/,
    );
  });
});

Deno.test("UDP carries each row as one datagram to the listener", async () => {
  await inTempDir("udp-rows", async (dir) => {
    const receiver = await listenHere("udp");
    const arriving = collectMessages(receiver, { count: 5 });
    const run = await runTask("process_streaming_name", [
      ...nameFlags(dir, receiver.port, "udp"),
      "--limit",
      "5",
    ]);
    const messages = await arriving;
    strictEqual(run.code, 0, run.stderr);
    const out9 = parseCsv(await readProjectFile(`${dir}/out9.txt`));
    strictEqual(out9.length, 1 + 5);
    deepStrictEqual(
      messages.map((message) => parseCsv(message.text)[0]),
      out9.slice(1),
    );
  });
});

Deno.test("a CSV with a BOM, CRLF line endings and no final newline streams every row intact", async () => {
  await inTempDir("bom-crlf", async (dir) => {
    const input = `${dir}/windows.csv`;
    await Deno.writeTextFile(
      `${ROOT}${input}`,
      '\uFEFFStation,Reading,Note\r\nA1,3.5,"dry, sunny"\r\nB2,4.0,\r\nC3,2.25,last row',
    );
    const { run, messages: arrived } = await streamOverTcp(
      "process_streaming_name",
      (port) => [
        ...nameFlags(dir, port, "tcp"),
        "--input",
        input,
      ],
    );
    const messages = arrived;
    strictEqual(run.code, 0, run.stderr);
    deepStrictEqual(messages.map((message) => message.text), [
      'A1,3.5,"dry, sunny"',
      "B2,4.0,",
      "C3,2.25,last row",
    ]);
    strictEqual(
      await readProjectFile(`${dir}/out9.txt`),
      'Station,Reading,Note\nA1,3.5,"dry, sunny"\nB2,4.0,\nC3,2.25,last row\n',
    );
  });
});

Deno.test("the shipped temperature file has a BOM, CRLF endings, no final newline, newest row first", async () => {
  const text = await readProjectFile(TEMPERATURES);
  ok(text.startsWith("\uFEFFYear,Month,Day,Time,TempF\r\n"));
  ok(!text.endsWith("\n"));
  const rows = parseCsv(text).slice(1);
  strictEqual(rows.length, 168);
  const first = messageMinutes(`[${rows[0].join(", ")}]`);
  const last = messageMinutes(`[${rows.at(-1)!.join(", ")}]`);
  ok(first > last, "the file lists the newest reading first");
});

Deno.test("process_streaming_0 sends every reading oldest first, as [2023, 1, 3, 7:55, 12] messages", async () => {
  const { run, messages } = await streamReadings();
  strictEqual(run.code, 0, run.stderr);

  strictEqual(messages.length, 168);
  for (const text of messages) {
    match(text, /^\[2023, \d+, \d+, \d+:\d\d, \d+\]$/);
  }
  const times = messages.map(messageMinutes);
  deepStrictEqual(times, [...times].sort((a, b) => a - b));
  // Sorted as text, "10:05" would come before "9:45"; as values it comes after.
  const nineFortyFive = messages.findIndex((text) =>
    text.startsWith("[2023, 1, 1, 9:45,")
  );
  ok(nineFortyFive >= 0);
  strictEqual(messages[nineFortyFive + 1].slice(0, 18), "[2023, 1, 1, 10:05");
  match(
    run.stderr,
    /Skipped header row: \['Year', 'Month', 'Day', 'Time', 'TempF'\]/,
  );
  match(
    run.stderr,
    /Sent: b'\[2023, 1, 1, 0:05, 13\]' on port \d+\. Hit CTRL-c to stop\./,
  );
  match(run.stderr, /Streaming complete!/);
});

Deno.test("process_streaming_0 --loop starts over at the oldest reading after the newest", async () => {
  const { run, messages } = await streamReadings(["--loop", "--limit", "170"]);
  strictEqual(run.code, 0, run.stderr);
  strictEqual(messages.length, 170);
  deepStrictEqual(messages.slice(168), messages.slice(0, 2));
});

Deno.test("a row with the wrong number of fields is skipped, warned about with its line number, and counted", async () => {
  await inTempDir("malformed", async (dir) => {
    // Line 3 holds a quoted field that runs on to line 4, so the bad row is
    // on line 6, not on the fifth record.
    const { run, messages } = await streamCsvLines(dir, [
      "Site,Species,Count",
      "Marsh,Heron,3",
      'Pond,"Wood Duck',
      'pair",2',
      "",
      "Orchard,Robin",
      "Ridge,Hawk,1",
    ], "\r\n");
    const warning = "WARNING - Skipped line 6: 2 fields, expected 3.";
    assertOneRowSkipped(run, warning);
    ok((await readProjectFile(`${dir}/streaming_log.txt`)).includes(warning));
    deepStrictEqual(parseCsv(await readProjectFile(`${dir}/out9.txt`)), [
      ["Site", "Species", "Count"],
      ["Marsh", "Heron", "3"],
      ["Pond", "Wood Duck\r\npair", "2"],
      ["Ridge", "Hawk", "1"],
    ]);
    strictEqual(messages.length, 3);
    ok(!messages.some((message) => message.text.includes("Robin")));
  });
});

Deno.test("an unclosed quote skips that row with its line number and streams the rows after it", async () => {
  await inTempDir("unclosed-quote", async (dir) => {
    const { run, messages } = await streamCsvLines(dir, [
      "Site,Species,Count",
      "Marsh,Heron,3",
      'Pond,"Wood Duck,2',
      "Orchard,Robin,5",
      "Ridge,Hawk,1",
    ], "\n");
    assertOneRowSkipped(
      run,
      "WARNING - Skipped line 3: a quote that is never closed.",
    );
    deepStrictEqual(messages.map((message) => message.text), [
      "Marsh,Heron,3",
      "Orchard,Robin,5",
      "Ridge,Hawk,1",
    ]);
    deepStrictEqual(parseCsv(await readProjectFile(`${dir}/out9.txt`)), [
      ["Site", "Species", "Count"],
      ["Marsh", "Heron", "3"],
      ["Orchard", "Robin", "5"],
      ["Ridge", "Hawk", "1"],
    ]);
  });
});

for (const port of ["70000", "0", "-1"]) {
  Deno.test(`process_streaming_0 --port ${port} is a one-line usage error with exit code 2`, async () => {
    const run = await runTask("process_streaming_0", ["--port", port]);
    strictEqual(run.code, 2, run.stderr);
    const limit = port === "70000" ? "at most 65535" : "at least 1";
    strictEqual(
      run.stderr,
      `process_streaming_0: error: --port must be ${limit}, not ${port} (see --help)\n`,
    );
  });
}

Deno.test("a missing input file ends with a one-line error and exit code 1", async () => {
  await inTempDir("missing", async (dir) => {
    const run = await runTask("process_streaming_name", [
      ...nameFlags(dir, await freePort("udp"), "udp"),
      "--input",
      `${dir}/no_such_file.csv`,
    ]);
    strictEqual(run.code, 1);
    strictEqual(
      run.stderr.trim(),
      `process_streaming_name: error: input file ${dir}/no_such_file.csv not found`,
    );
    deepStrictEqual(await Array.fromAsync(Deno.readDir(`${ROOT}${dir}`)), []);

    const zero = await runTask("process_streaming_0", [
      "--input",
      "data/nope.csv",
    ]);
    strictEqual(zero.code, 1);
    strictEqual(
      zero.stderr.trim().split("\n").at(-1),
      "process_streaming_0: error: input file data/nope.csv not found",
    );
    ok(!zero.stderr.includes("    at "), "no stack trace");
  });
});

Deno.test("a TCP listener that is not there ends with a one-line error and exit code 1", async () => {
  await inTempDir("no-listener", async (dir) => {
    const port = await freePort("tcp");
    const run = await runTask("process_streaming_name", [
      ...nameFlags(dir, port, "tcp"),
    ]);
    strictEqual(run.code, 1);
    strictEqual(
      run.stderr.trim(),
      `process_streaming_name: error: no TCP listener at 127.0.0.1:${port}; start one first with: deno task listen --protocol tcp`,
    );
    deepStrictEqual(await Array.fromAsync(Deno.readDir(`${ROOT}${dir}`)), []);
  });
});

Deno.test("SIGINT mid-stream leaves a complete, valid out9.txt and exits 0", async () => {
  await inTempDir("sigint", async (dir) => {
    const receiver = await listenHere("tcp");
    const child = spawnTask("process_streaming_name", [
      ...nameFlags(dir, receiver.port, "tcp"),
      "--min_delay",
      "0.1",
      "--max_delay",
      "0.2",
    ]);
    const { stdout, stderr } = watchOutputs(child, "process_streaming_name");
    const firstThree = await collectMessages(receiver, {
      count: 3,
      keepOpen: true,
    });
    child.kill("SIGINT");
    const status = await child.status;
    const rest = await collectMessages(receiver, { disconnects: 1 });
    const messages = [...firstThree, ...rest].map((message) => message.text);
    const errors = await stderr.all();
    await stdout.all();

    strictEqual(status.code, 0, errors);
    const streamed = Number(
      errors.match(/Stopped by SIGINT: (\d+) rows streamed/)?.[1],
    );
    ok(streamed >= 3 && streamed < 38, errors);
    const input = parseCsv(await readProjectFile(BIRD_COUNTS));
    const out9 = await readProjectFile(`${dir}/out9.txt`);
    ok(out9.endsWith("\n"), "the last row is complete");
    deepStrictEqual(parseCsv(out9), input.slice(0, 1 + streamed));
    strictEqual(messages.length, streamed);
  });
});

Deno.test("SIGINT stops process_streaming_0 with a one-line goodbye and exit code 0", async () => {
  const receiver = await listenHere("tcp");
  const child = spawnTask("process_streaming_0", [
    "--delay",
    "0.05",
    "--loop",
    "--protocol",
    "tcp",
    "--port",
    String(receiver.port),
  ]);
  const { stdout, stderr } = watchOutputs(child, "process_streaming_0");
  await collectMessages(receiver, { count: 3, keepOpen: true });
  child.kill("SIGINT");
  const status = await child.status;
  await collectMessages(receiver, { disconnects: 1 });
  const errors = await stderr.all();
  await stdout.all();
  strictEqual(status.code, 0, errors);
  match(
    errors.trim().split("\n").at(-1)!,
    /INFO - Stopped by SIGINT after \d+ messages; socket closed\. Goodbye!$/,
  );
  ok(!errors.includes("    at "), "no stack trace");
});

Deno.test("a file named without --input is a one-line usage error, not the default file streamed", async () => {
  for (const task of ["process_streaming_0", "process_streaming_name"]) {
    const run = await runTask(task, ["data/mydata.csv"]);
    strictEqual(run.code, 2, run.stderr);
    strictEqual(
      run.stderr,
      `${task}: error: unexpected argument "data/mydata.csv": this script takes only flags; did you mean --input data/mydata.csv? (see --help)\n`,
    );
  }
});

Deno.test("a folder as --input or --output is one line that names it", async () => {
  const zero = await runTask("process_streaming_0", ["--input", "data"]);
  strictEqual(zero.code, 1, zero.stderr);
  strictEqual(
    zero.stderr.trim().split("\n").at(-1),
    "process_streaming_0: error: input data is a folder, not a CSV file",
  );
  await inTempDir("folder-output", async (dir) => {
    const run = await runTask("process_streaming_name", [
      ...nameFlags(dir, await freePort("udp"), "udp"),
      "--output",
      dir,
    ]);
    strictEqual(run.code, 1, run.stderr);
    strictEqual(
      run.stderr.trim().split("\n").at(-1),
      `process_streaming_name: error: cannot write ${dir}: it is a folder, not a file`,
    );
  });
});

for (const protocol of ["udp", "tcp"]) {
  Deno.test(`--host example.com over ${protocol} is one line naming the host, no Uncaught NotCapable`, async () => {
    for (const task of ["process_streaming_0", "process_streaming_name"]) {
      const args = ["--host", "example.com", "--protocol", protocol];
      const run = await runTask(task, args);
      strictEqual(run.code, 2, run.stderr);
      strictEqual(
        run.stderr.trim().split("\n").at(-1),
        `${task}: error: --host example.com: this task may only use this machine (127.0.0.1 or localhost), as its --allow-net says (see --help)`,
      );
      ok(!run.stderr.includes("Uncaught"), run.stderr);
    }
  });
}
