/**
 * Bad input to the Kafka transfer tools ends in one line and a non-zero exit,
 * never a hang, a stack trace or a runaway process (issue 17, items 3 and 4):
 * a broker address with no valid port, a negative batch.size, an empty or
 * spaced consumer group, an empty path, a huge --n_threads.
 *
 * None of these runs needs a broker: the tools must refuse the input before
 * they connect. Every run is guarded by a kill after GUARD_MS, so a hang
 * fails the test (exit code 137) instead of hanging the test run.
 */
import { ok, strictEqual } from "node:assert/strict";
import { ROOT, spawnTask } from "./helpers/run_task.ts";

/** A run still going after this long hangs: it is killed and fails. */
const GUARD_MS = 60_000;

/** Test files live in out/, as a user's would. */
const TEST_DIR = "out/test_bad_input";

const decoder = new TextDecoder();

/** What a guarded run printed and returned. */
interface GuardedRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a task with stdin closed; kills it with SIGKILL if it hangs. */
async function runGuarded(task: string, args: string[]): Promise<GuardedRun> {
  const child = spawnTask(task, args, { direct: true });
  const guard = setTimeout(() => child.kill("SIGKILL"), GUARD_MS);
  try {
    const output = await child.output();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(guard);
  }
}

/** The run ended with `code` and exactly one line on stderr, matching `expected`. */
function assertOneLineError(
  run: GuardedRun,
  code: number,
  expected: RegExp,
): void {
  const lines = run.stderr.trim().split("\n");
  strictEqual(run.code, code, `exit code; stderr: ${run.stderr}`);
  strictEqual(lines.length, 1, `one line on stderr, got:\n${run.stderr}`);
  ok(expected.test(lines[0]), `"${lines[0]}" should match ${expected}`);
  ok(!/Uncaught|^\s+at /m.test(run.stderr), "no stack trace");
  strictEqual(run.stdout.trim(), "", "nothing on stdout");
}

/** Writes a config file with `lines` into TEST_DIR; returns its path. */
async function writeConfig(name: string, lines: string): Promise<string> {
  await Deno.mkdir(`${ROOT}${TEST_DIR}`, { recursive: true });
  const path = `${TEST_DIR}/${name}.config`;
  await Deno.writeTextFile(`${ROOT}${path}`, lines);
  return path;
}

/** A small file to upload; its content never gets anywhere in these tests. */
async function writeSmallFile(): Promise<string> {
  await Deno.mkdir(`${ROOT}${TEST_DIR}`, { recursive: true });
  const path = `${TEST_DIR}/small.bin`;
  await Deno.writeFile(`${ROOT}${path}`, new Uint8Array(1000));
  return path;
}

/** The three tools, each with the arguments it needs besides flags. */
function toolRuns(file: string): [string, string[]][] {
  return [
    ["upload_data_file", [file]],
    ["upload_data_files_added_to_directory", [`${TEST_DIR}/watched`]],
    ["reconstruct_data_files", [`${TEST_DIR}/rebuilt`]],
  ];
}

for (const port of ["abc", "99999"]) {
  Deno.test(`bootstrap.servers = 127.0.0.1:${port} ends each tool in one line, exit 1, no hang`, async () => {
    const config = await writeConfig(
      `port_${port}`,
      `[cluster]\nbootstrap.servers = 127.0.0.1:${port}\n`,
    );
    const file = await writeSmallFile();
    await Deno.mkdir(`${ROOT}${TEST_DIR}/watched`, { recursive: true });
    for (const [task, args] of toolRuns(file)) {
      const run = await runGuarded(task, ["--config", config, ...args]);
      assertOneLineError(
        run,
        1,
        new RegExp(
          `^${task}: error: .*bootstrap\\.servers entry "127\\.0\\.0\\.1:${port}" is not host:port with a port from 1 to 65535$`,
        ),
      );
    }
  });
}

Deno.test("a password written into bootstrap.servers is not printed", async () => {
  const config = await writeConfig(
    "password_in_servers",
    "[cluster]\nbootstrap.servers = lab:s3cret-pw@127.0.0.1:9092\n",
  );
  const run = await runGuarded("upload_data_file", [
    "--config",
    config,
    await writeSmallFile(),
  ]);
  assertOneLineError(
    run,
    1,
    /^upload_data_file: error: .*bootstrap\.servers entry "\.\.\.@127\.0\.0\.1:9092" is not host:port/,
  );
  ok(!run.stderr.includes("s3cret"), "the password is not printed");
});

Deno.test("batch.size = -5 is refused in one line before anything is sent", async () => {
  const config = await writeConfig(
    "negative_batch",
    "[cluster]\nbootstrap.servers = 127.0.0.1:9\n[producer]\nbatch.size = -5\n",
  );
  const run = await runGuarded("upload_data_file", [
    "--config",
    config,
    await writeSmallFile(),
  ]);
  assertOneLineError(
    run,
    1,
    /^upload_data_file: error: .*\[producer\] batch\.size must be a whole number from 1 to 2147483647, not "-5"$/,
  );
});

for (const group of ["", "lab pc 1"]) {
  Deno.test(`--consumer_group_ID ${JSON.stringify(group)} is a usage error in one line`, async () => {
    const run = await runGuarded("reconstruct_data_files", [
      "--consumer_group_ID",
      group,
      `${TEST_DIR}/rebuilt`,
    ]);
    assertOneLineError(
      run,
      2,
      /^reconstruct_data_files: error: --consumer_group_ID ".*" must be one or more characters without spaces \(see --help\)$/,
    );
  });
}

Deno.test("group.id with a space in the config is refused in one line", async () => {
  const config = await writeConfig(
    "spaced_group",
    "[cluster]\nbootstrap.servers = 127.0.0.1:9\n[consumer]\ngroup.id = lab pc\n",
  );
  const run = await runGuarded("reconstruct_data_files", [
    "--config",
    config,
    `${TEST_DIR}/rebuilt`,
  ]);
  assertOneLineError(
    run,
    1,
    /^reconstruct_data_files: error: .*\[consumer\] group\.id "lab pc" must be one or more characters without spaces$/,
  );
});

Deno.test('an empty path ("") is a usage error in one line for each tool', async () => {
  for (
    const [task, what] of [
      ["upload_data_file", "FILEPATH"],
      ["upload_data_files_added_to_directory", "DIRECTORY"],
      ["reconstruct_data_files", "WORKINGDIR"],
    ]
  ) {
    const run = await runGuarded(task, [""]);
    assertOneLineError(
      run,
      2,
      new RegExp(`^${task}: error: ${what} "" is empty .*\\(see --help\\)$`),
    );
  }
});

Deno.test("--n_threads 100000000 is a usage error in one line for each tool, not a runaway process", async () => {
  const file = await writeSmallFile();
  await Deno.mkdir(`${ROOT}${TEST_DIR}/watched`, { recursive: true });
  for (const [task, args] of toolRuns(file)) {
    const run = await runGuarded(task, ["--n_threads", "100000000", ...args]);
    assertOneLineError(
      run,
      2,
      new RegExp(
        `^${task}: error: --n_threads must be at most 64, not 100000000 \\(see --help\\)$`,
      ),
    );
  }
});

/**
 * A TCP server that accepts connections and never answers: a broker that
 * hangs. `nextConnection()` resolves when the next client connects.
 */
function startSilentServer(): {
  port: number;
  nextConnection: () => Promise<void>;
  close: () => void;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  let waiting: (() => void)[] = [];
  (async () => {
    for await (const conn of listener) {
      held.push(conn);
      for (const arrived of waiting) arrived();
      waiting = [];
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    nextConnection: () => new Promise((resolve) => waiting.push(resolve)),
    close: () => {
      listener.close();
      for (const conn of held) conn.close();
    },
  };
}

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.test(`${signal} while Kafka does not answer stops each tool at once: one line, exit ${code}`, async () => {
    const server = startSilentServer();
    try {
      const config = await writeConfig(
        "silent",
        `[cluster]\nbootstrap.servers = 127.0.0.1:${server.port}\n`,
      );
      const file = await writeSmallFile();
      await Deno.mkdir(`${ROOT}${TEST_DIR}/watched`, { recursive: true });
      for (const [task, args] of toolRuns(file)) {
        const connected = server.nextConnection();
        const child = spawnTask(task, ["--config", config, ...args], {
          direct: true,
        });
        const guard = setTimeout(() => child.kill("SIGKILL"), GUARD_MS);
        const output = child.output();
        await connected; // It waits for Kafka now.
        child.kill(signal);
        const { code: exitCode, stdout, stderr } = await output;
        clearTimeout(guard);
        const nothing = task === "reconstruct_data_files" ? "read" : "sent";
        assertOneLineError(
          {
            code: exitCode,
            stdout: decoder.decode(stdout),
            stderr: decoder.decode(stderr),
          },
          code,
          new RegExp(
            `^${task}: error: stopped by ${signal} while connecting to Kafka; nothing was ${nothing}$`,
          ),
        );
      }
    } finally {
      server.close();
    }
  });
}

Deno.test("Ctrl-C right after start ends each tool with exit 130 and at most one line", async () => {
  const server = startSilentServer();
  try {
    const config = await writeConfig(
      "silent_early",
      `[cluster]\nbootstrap.servers = 127.0.0.1:${server.port}\n`,
    );
    const file = await writeSmallFile();
    await Deno.mkdir(`${ROOT}${TEST_DIR}/watched`, { recursive: true });
    for (const [task, args] of toolRuns(file)) {
      const child = spawnTask(task, ["--config", config, ...args], {
        direct: true,
      });
      const guard = setTimeout(() => child.kill("SIGKILL"), GUARD_MS);
      // Before its first line: still loading, or already waiting for Kafka.
      child.kill("SIGINT");
      const output = await child.output();
      clearTimeout(guard);
      const stderr = decoder.decode(output.stderr).trim();
      strictEqual(output.code, 130, `${task} exit code; stderr: ${stderr}`);
      ok(stderr.split("\n").length <= 1, `at most one line:\n${stderr}`);
      ok(!/Uncaught|^\s+at /m.test(stderr), "no stack trace");
      ok(
        stderr === "" ||
          stderr ===
            `${task}: error: stopped by SIGINT while connecting to Kafka; nothing was ${
              task === "reconstruct_data_files" ? "read" : "sent"
            }`,
        `the line says it stopped: ${stderr}`,
      );
    }
  } finally {
    server.close();
  }
});
