/**
 * Tests for scripts/multiple_processes.ts: the real task, real worker
 * processes, and a real SQLite file in out/.tmp, read back with node:sqlite.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  makeOutTempDir,
  ROOT,
  runTask,
  spawnTask,
} from "./helpers/run_task.ts";

const SIX_PETS = [
  "Ace/Dog",
  "Buddy/Dog",
  "Cooper/Rabbit",
  "Dingo/Dog",
  "Emma/Rabbit",
  "Felix/Cat",
];
const LOCKED =
  /ERROR - P\d+: gave up on \S+ after \d+\.\d+ s: database is locked/;
const SUCCESS = "SUCCESS: All processes successfully completed!";

/** The rows of the `pets` table as "name/breed", sorted. */
function readPets(dbPath: string): string[] {
  const db = new DatabaseSync(`${ROOT}${dbPath}`, { readOnly: true });
  try {
    const rows = db.prepare("SELECT name, breed FROM pets").all();
    return rows.map((row) => `${row.name}/${row.breed}`).sort();
  } finally {
    db.close();
  }
}

/** One lane of the text timeline: process, committed and failed counts. */
interface Lane {
  process: number;
  cells: string;
  committed: number;
  failed: number;
}

/** The lanes of the text lock timeline printed at the end of a run. */
function textLanes(stderr: string): Lane[] {
  const lanes = [...stderr.matchAll(
    /^P(\d+) *\|(.*)\| (\d+) committed, (\d+) failed/gm,
  )];
  return lanes.map(([, process, cells, committed, failed]) => ({
    process: Number(process),
    cells,
    committed: Number(committed),
    failed: Number(failed),
  }));
}

/** How many markers of one kind (`commit`, `fail`, ...) the SVG holds. */
async function svgMarks(dir: string, kind: string): Promise<number> {
  const svg = await Deno.readTextFile(`${ROOT}${dir}/lock_timeline.svg`);
  ok(svg.startsWith("<svg") && svg.includes("holding the lock"), svg);
  return svg.split(`class="${kind}"`).length - 1;
}

/** Runs `body` with a fresh folder in out/.tmp, removed afterwards. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await makeOutTempDir("multiple_processes");
  try {
    await body(dir);
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
}

/** Runs the task on `dir`/shared.db with extra flags. */
function runPets(dir: string, flags: string[]) {
  return runTask("multiple_processes", [
    "--db",
    `${dir}/shared.db`,
    "--timeline",
    `${dir}/lock_timeline.svg`,
    ...flags,
  ]);
}

Deno.test("three processes at 0 s insert all six pets", async () => {
  await inTempDir(async (dir) => {
    const { code, stderr } = await runPets(dir, []);
    strictEqual(code, 0, stderr);
    deepStrictEqual(readPets(`${dir}/shared.db`), SIX_PETS);
    ok(stderr.includes(SUCCESS), stderr);
    ok(stderr.includes("holds 6 of 6 expected rows"), stderr);
    ok(!stderr.includes("database is locked"), stderr);
    for (const n of [1, 2, 3]) {
      ok(stderr.includes(`- INFO - P${n}: Called runProcess(${n}).`), stderr);
    }
  });
});

Deno.test("the lock timeline at 0 s shows every lane committing all its rows", async () => {
  await inTempDir(async (dir) => {
    const { code, stderr } = await runPets(dir, []);
    strictEqual(code, 0, stderr);
    deepStrictEqual(
      textLanes(stderr).map((
        lane,
      ) => [lane.process, lane.committed, lane.failed]),
      [[1, 2, 0], [2, 2, 0], [3, 2, 0]],
    );
    strictEqual(await svgMarks(dir, "commit"), 6);
    strictEqual(await svgMarks(dir, "fail"), 0);
    // Per insert: asked for the lock, got it, committed.
    strictEqual(stderr.match(/: asks for the lock to insert /g)?.length, 6);
    strictEqual(stderr.match(/: got the lock for \S+ after /g)?.length, 6);
    strictEqual(stderr.match(/: committed \S+, held the lock /g)?.length, 6);
    // The timeline names each lane's pets; the legend only what occurred.
    match(stderr, /^P1 +\|.*\| 2 committed, 0 failed \(saved Ace, Buddy\)$/m);
    ok(!stderr.includes("gave up (row lost)"), stderr);
    ok(!stderr.includes("slow task without it"), stderr);
  });
});

Deno.test("--output saves every printed line, the workers' lines too", async () => {
  await inTempDir(async (dir) => {
    const output = `${dir}/out0.txt`;
    const { code, stderr } = await runPets(dir, ["--output", output]);
    strictEqual(code, 0, stderr);
    const saved = await Deno.readTextFile(`${ROOT}${output}`);
    strictEqual(saved, stderr);
    match(saved, /P3: Called insertPet\(\) with Felix\./);
    match(saved, /^P3 \|.*\| 2 committed, 0 failed/m);
  });
});

Deno.test(
  "inserts that outlast the busy timeout fail with database is locked and the summary names the lost pets",
  async () => {
    await inTempDir(async (dir) => {
      const { code, stderr } = await runPets(dir, [
        "--task_duration",
        "1",
        "--busy_timeout",
        "200",
      ]);
      // Without a remedy, losing rows is the lesson, not a failure.
      strictEqual(code, 0, stderr);
      match(stderr, LOCKED);
      const saved = readPets(`${dir}/shared.db`);
      ok(saved.length < 6, `expected lost rows, got ${saved}`);
      const lost = SIX_PETS.filter((pet) => !saved.includes(pet))
        .map((pet) => pet.split("/")[0]);
      const summary = stderr.split("\n").find((line) =>
        line.includes("Missing")
      );
      deepStrictEqual(
        summary?.split("rows: ")[1].replace(/\.$/, "").split(", ").sort(),
        lost.sort(),
      );
      ok(stderr.includes(`holds ${saved.length} of 6 expected rows`), stderr);
      ok(!stderr.includes(SUCCESS), stderr);
      // The timeline shows the same losses the table and the log show.
      const lanes = textLanes(stderr);
      const failed = lanes.reduce((sum, lane) => sum + lane.failed, 0);
      const committed = lanes.reduce((sum, lane) => sum + lane.committed, 0);
      strictEqual(failed, lost.length);
      strictEqual(committed, saved.length);
      strictEqual(stderr.match(new RegExp(LOCKED, "g"))?.length, lost.length);
      ok(lanes.some((lane) => lane.cells.includes("~")), stderr);
      strictEqual(await svgMarks(dir, "fail"), lost.length);
      strictEqual(await svgMarks(dir, "commit"), saved.length);
      ok(await svgMarks(dir, "waiting") > 0);
      // The picture names the lost pets, and its legend lists only what
      // occurred (no retries, no slow task without the lock in this run).
      const svg = await Deno.readTextFile(`${ROOT}${dir}/lock_timeline.svg`);
      for (const name of lost) ok(svg.includes(`>${name} lost</text>`), svg);
      ok(!svg.includes("will retry") && !svg.includes("without it"), svg);
      // Each lane line names its lost pets too.
      const lostInLanes = [...stderr.matchAll(/lost ([\w, ]+)\)$/gm)]
        .flatMap((found) => found[1].split(", "));
      deepStrictEqual(lostInLanes.sort(), [...lost].sort(), stderr);
    });
  },
);

for (const remedy of ["short_transactions", "wait_longer", "retry"]) {
  Deno.test(
    `remedy ${remedy} saves all six pets when inserts outlast the busy timeout`,
    async () => {
      await inTempDir(async (dir) => {
        const { code, stderr } = await runPets(dir, [
          "--task_duration",
          "0.5",
          "--busy_timeout",
          "200",
          "--remedy",
          remedy,
        ]);
        strictEqual(code, 0, stderr);
        deepStrictEqual(readPets(`${dir}/shared.db`), SIX_PETS);
        ok(!LOCKED.test(stderr), stderr);
        ok(stderr.includes(SUCCESS), stderr);
        for (const lane of textLanes(stderr)) {
          deepStrictEqual([lane.committed, lane.failed], [2, 0], stderr);
        }
        strictEqual(textLanes(stderr).length, 3);
        strictEqual(await svgMarks(dir, "commit"), 6);
        strictEqual(await svgMarks(dir, "fail"), 0);
        // Only short_transactions does the slow task without the lock.
        strictEqual(
          await svgMarks(dir, "working") > 0,
          remedy === "short_transactions",
        );
      });
    },
  );

  Deno.test(
    `remedy ${remedy} saves all fifty pets of ten processes x five records at 0.2 s`,
    async () => {
      await inTempDir(async (dir) => {
        const { code, stderr } = await runPets(dir, [
          "--processes",
          "10",
          "--records_per_process",
          "5",
          "--task_duration",
          "0.2",
          "--remedy",
          remedy,
        ]);
        strictEqual(code, 0, stderr);
        const saved = readPets(`${dir}/shared.db`);
        strictEqual(saved.length, 50);
        strictEqual(new Set(saved).size, 50);
        ok(saved.some((pet) => pet.startsWith("Pet10-5/")), `${saved}`);
        ok(stderr.includes("holds 50 of 50 expected rows"), stderr);
      });
    },
  );
}

Deno.test("kebab-case flags work like snake_case ones", async () => {
  await inTempDir(async (dir) => {
    const { code, stderr } = await runPets(dir, [
      "--task-duration",
      "0",
      "--records-per-process",
      "1",
    ]);
    strictEqual(code, 0, stderr);
    deepStrictEqual(readPets(`${dir}/shared.db`), [
      "Ace/Dog",
      "Cooper/Rabbit",
      "Emma/Rabbit",
    ]);
  });
});

Deno.test("an unknown flag is a one-line error with exit code 2", async () => {
  const { code, stderr } = await runTask("multiple_processes", ["--bogus"]);
  strictEqual(code, 2);
  strictEqual(
    stderr,
    "multiple_processes: error: unknown flag --bogus (see --help)\n",
  );
  ok(!/^\s+at /m.test(stderr), stderr);
});

Deno.test("a database outside out/ is refused in one line", async () => {
  const { code, stderr } = await runTask("multiple_processes", [
    "--db",
    "/tmp/shared.db",
  ]);
  strictEqual(code, 1);
  match(stderr, /error: cannot open \/tmp\/shared\.db: .*out\//);
  ok(!/^\s+at /m.test(stderr), stderr);
});

Deno.test("--help lists the flags and exits 0", async () => {
  const { code, stdout } = await runTask("multiple_processes", ["--help"]);
  strictEqual(code, 0);
  for (const flag of ["--task_duration", "--busy_timeout", "--remedy"]) {
    ok(stdout.includes(flag), stdout);
  }
  ok(!stdout.includes("--worker"), stdout);
});

/** Log lines' timestamps, in the order printed. */
function timestamps(stderr: string): string[] {
  return [...stderr.matchAll(/^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - /gm)]
    .map((found) => found[1]);
}

Deno.test("every log line, the workers' too, is printed in time order", async () => {
  await inTempDir(async (dir) => {
    const { code, stderr } = await runPets(dir, [
      "--task_duration",
      "0.3",
      "--busy_timeout",
      "200",
    ]);
    strictEqual(code, 0, stderr);
    const times = timestamps(stderr);
    ok(times.length > 20, stderr);
    deepStrictEqual(times, [...times].sort(), stderr);
  });
});

Deno.test("ten processes line up in the text timeline (P10 under P9)", async () => {
  await inTempDir(async (dir) => {
    const { code, stderr } = await runPets(dir, ["--processes", "10"]);
    strictEqual(code, 0, stderr);
    const bars = stderr.split("\n").filter((line) => /^P\d+ *\|/.test(line))
      .map((line) => line.indexOf("|"));
    strictEqual(bars.length, 10);
    deepStrictEqual(new Set(bars), new Set([4]), stderr);
  });
});

/** Names in the pets table, sorted. */
function petNames(dbPath: string): string[] {
  return readPets(dbPath).map((pet) => pet.split("/")[0]);
}

/** Runs the task at 3 s, sends SIGINT after 3.5 s via `interrupt`. */
async function interruptAt3s(
  dir: string,
  start: (args: string[]) => Deno.ChildProcess,
  interrupt: (child: Deno.ChildProcess) => void,
) {
  const child = start([
    "--db",
    `${dir}/shared.db`,
    "--timeline",
    `${dir}/lock_timeline.svg`,
    "--task_duration",
    "3",
  ]);
  const output = child.output();
  await new Promise((resolve) => setTimeout(resolve, 3500));
  interrupt(child);
  const { code, stderr } = await output;
  const text = new TextDecoder().decode(stderr);
  const atExit = petNames(`${dir}/shared.db`);
  // Long enough for a worker left behind to commit its next row.
  await new Promise((resolve) => setTimeout(resolve, 4000));
  return { code, text, atExit, later: petNames(`${dir}/shared.db`) };
}

/** What Ctrl-C must leave: exit 130, the summary, the timeline, no late row. */
function checkInterrupted(
  result: { code: number; text: string; atExit: string[]; later: string[] },
) {
  const { code, text, atExit, later } = result;
  strictEqual(code, 130, text);
  deepStrictEqual(later, atExit, "a row was written after the parent exited");
  ok(atExit.length < 6, text);
  match(text, /Stopped by SIGINT\. Rows saved so far: /);
  const saved = text.match(/Rows saved so far: (.*)\.$/m)?.[1];
  deepStrictEqual(
    saved === "none" ? [] : saved?.split(", ").sort(),
    atExit,
    text,
  );
  match(text, /^Lock timeline: /m);
  match(text, /stopped by SIGINT/);
  ok(!text.includes("Uncaught"), text);
}

Deno.test(
  "Ctrl-C at 3 s (SIGINT to the whole process group) stops the workers, prints the rows saved and the timeline, exits 130, and no row comes later",
  async () => {
    await inTempDir(async (dir) => {
      const result = await interruptAt3s(
        dir,
        (args) =>
          // setsid: a process group of its own, like a terminal's job.
          new Deno.Command("setsid", {
            args: [
              Deno.execPath(),
              "task",
              "--quiet",
              "multiple_processes",
              ...args,
            ],
            cwd: ROOT,
            stdin: "null",
            stdout: "piped",
            stderr: "piped",
            env: { NO_COLOR: "1" },
          }).spawn(),
        (child) => Deno.kill(-child.pid, "SIGINT"),
      );
      checkInterrupted(result);
    });
  },
);

Deno.test(
  "SIGINT to the parent alone also stops its workers before it exits: no row is written afterwards",
  async () => {
    await inTempDir(async (dir) => {
      const result = await interruptAt3s(
        dir,
        (args) => spawnTask("multiple_processes", args, { direct: true }),
        (child) => child.kill("SIGINT"),
      );
      checkInterrupted(result);
    });
  },
);

Deno.test("an argument that is not a flag is a one-line usage error with exit code 2", async () => {
  const { code, stderr } = await runTask("multiple_processes", ["3"]);
  strictEqual(code, 2, stderr);
  strictEqual(
    stderr,
    'multiple_processes: error: unexpected argument "3": this script takes only flags (see --help)\n',
  );
});
