/**
 * Tests for the assignment of task 9, done as the README says a student does
 * it: copy scripts/process_streaming_name.ts to a new name, edit the TODO
 * lines, check the formatting with `deno fmt --check`, and run the copy with
 * `deno task stream`. The copy must call itself by its own name.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { parse } from "csv-parse/sync";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";
import { collectMessages } from "./helpers/streaming.ts";
import { openReceiver } from "../lib/course/sockets.ts";

const TEMPLATE = "scripts/process_streaming_name.ts";

/** The edits a student makes: each TODO line, replaced as in an editor. */
const STUDENT_EDITS: [string, string][] = [
  [
    "const OUTPUT_HEADER: string[] | null = null;",
    'const OUTPUT_HEADER: string[] | null = ["Date", "Species", "Count"];',
  ],
  ['const PROTOCOL: Protocol = "udp";', 'const PROTOCOL: Protocol = "tcp";'],
  ["const MIN_DELAY_SECONDS = 1;", "const MIN_DELAY_SECONDS = 0;"],
  ["const MAX_DELAY_SECONDS = 3;", "const MAX_DELAY_SECONDS = 0;"],
  [
    "  return fields;\n}",
    "  const [date, , , species, count] = fields;\n" +
    '  if (species.startsWith("Red")) return undefined;\n' +
    "  return [date, species, count];\n}",
  ],
];

/** Copies the template to scripts/<name>.ts with the student's edits. */
async function makeStudentCopy(name: string): Promise<string> {
  let text = await Deno.readTextFile(`${ROOT}${TEMPLATE}`);
  for (const [before, after] of STUDENT_EDITS) {
    ok(text.includes(before), `the template has the line ${before}`);
    text = text.replace(before, after);
  }
  const path = `scripts/${name}.ts`;
  await Deno.writeTextFile(`${ROOT}${path}`, text);
  return path;
}

/** Runs `deno fmt --check` on one file; its exit code and complaints. */
async function fmtCheck(path: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--check", path],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test("a copy of the template with its TODO lines edited passes deno fmt --check, runs, and names itself", async () => {
  const name = `process_streaming_test${Date.now()}`;
  const dir = await makeOutTempDir("template-copy");
  const script = await makeStudentCopy(name);
  const logFile = `out/${name}_log.txt`;
  try {
    const fmt = await fmtCheck(script);
    strictEqual(fmt.code, 0, fmt.stderr);

    const receiver = await openReceiver({
      protocol: "tcp",
      hostname: "127.0.0.1",
      port: 0,
    });
    const arriving = collectMessages(receiver, { disconnects: 1 });
    const run = await runTask("stream", [
      script,
      "--port",
      String(receiver.port),
      "--output",
      `${dir}/out9.txt`,
      "--limit",
      "4",
    ]);
    const messages = (await arriving).map((message) => message.text);
    strictEqual(run.code, 0, run.stderr);

    // out9.txt: the new header, then the transformed rows, Red-* left out.
    const input = parse(
      await Deno.readTextFile(`${ROOT}data/bird_counts_2024.csv`),
    );
    const expected = input.slice(1)
      .filter((row: string[]) => !row[3].startsWith("Red"))
      .slice(0, 4)
      .map((row: string[]) => [row[0], row[3], row[4]]);
    const out9 = parse(await Deno.readTextFile(`${ROOT}${dir}/out9.txt`));
    deepStrictEqual(out9, [["Date", "Species", "Count"], ...expected]);
    deepStrictEqual(messages.map((text) => parse(text)[0]), expected);

    // The log is named after the copy and holds what the console showed.
    const log = await Deno.readTextFile(`${ROOT}${logFile}`);
    strictEqual(log, run.stderr);
    match(log, /INFO - Sent and logged: 2024-04-06,Great Blue Heron,3\n/);
    match(log, /Done: 4 rows streamed, 0 malformed rows skipped\./);

    // --help and errors say the copy's name, not the template's.
    const help = await runTask("stream", [script, "--help"]);
    strictEqual(help.code, 0);
    ok(
      help.stdout.includes(`deno task stream scripts/${name}.ts`),
      help.stdout,
    );
    ok(!help.stdout.includes("process_streaming_name"), help.stdout);
    ok(help.stdout.includes(logFile), help.stdout);
    const bad = await runTask("stream", [script, "--bogus"]);
    strictEqual(bad.code, 2);
    strictEqual(
      bad.stderr,
      `${name}: error: unknown flag --bogus (see --help)\n`,
    );
  } finally {
    await Deno.remove(`${ROOT}${script}`);
    await Deno.remove(`${ROOT}${logFile}`).catch(() => {});
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

Deno.test("a copy whose transformRow does not fit the header stops in one line and leaves out9.txt as it was", async () => {
  const name = `process_streaming_test${Date.now()}`;
  const dir = await makeOutTempDir("template-header");
  const path = `scripts/${name}.ts`;
  let text = await Deno.readTextFile(`${ROOT}${TEMPLATE}`);
  // The student set a three-field header but kept every field of each row.
  text = text.replace(
    "const OUTPUT_HEADER: string[] | null = null;",
    'const OUTPUT_HEADER: string[] | null = ["Date", "Species", "Count"];',
  );
  await Deno.writeTextFile(`${ROOT}${path}`, text);
  const out9 = `${dir}/out9.txt`;
  const lastRun = "Date,Species,Count\n2024-04-06,Great Blue Heron,3\n";
  await Deno.writeTextFile(`${ROOT}${out9}`, lastRun);
  try {
    const run = await runTask("stream", [
      path,
      "--output",
      out9,
      "--min_delay",
      "0",
      "--max_delay",
      "0",
    ]);
    strictEqual(run.code, 1, run.stderr);
    match(
      run.stderr.trim().split("\n").at(-1)!,
      new RegExp(
        `^${name}: error: transformRow\\(\\) returned 6 fields for line 2, but the header has 3: Date,Species,Count$`,
      ),
    );
    strictEqual(await Deno.readTextFile(`${ROOT}${out9}`), lastRun);
  } finally {
    await Deno.remove(`${ROOT}${path}`);
    await Deno.remove(`${ROOT}out/${name}_log.txt`).catch(() => {});
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});
