/**
 * Tests for scripts/00_check.ts and scripts/about.ts: the real tasks, with the
 * permissions deno.json gives them, writing their reports into out/.
 */
import { match, ok, strictEqual } from "node:assert/strict";
import { ROOT, runTask } from "./helpers/run_task.ts";

const FIELDS = [
  "Operating System",
  "System Architecture",
  "Number of CPUs",
  "Deno Version",
  "V8 Version",
  "TypeScript Version",
  "Path to Deno",
  "Current Working Directory",
  "Path to script file",
  "User's Home Directory",
  "Terminal Environment",
  "Terminal Type",
  "Git available in PATH",
  "Java available in PATH",
  "Maven available in PATH",
];

Deno.test("check writes out/00_report_core.txt with the Deno version and prints the same report", async () => {
  const { code, stdout, stderr } = await runTask("check");
  strictEqual(code, 0, stderr);
  const report = await Deno.readTextFile(`${ROOT}out/00_report_core.txt`);
  ok(report.includes(` Deno Version: ${Deno.version.deno}\n`), report);
  ok(report.includes(" Welcome to NW Diagnostics!\n"), report);
  match(report, /^ At: \d{4}-\d\d-\d\d at \d\d:\d\d [AP]M$/m);
  for (const field of FIELDS) ok(report.includes(`\n ${field}: `), field);
  ok(report.startsWith(`${"=".repeat(70)}\n${"=".repeat(70)}\n`), report);
  ok(stdout.includes(report.trimEnd()), stdout);
});

Deno.test("about writes out/about.txt with the same fields under its own title", async () => {
  const { code, stderr } = await runTask("about");
  strictEqual(code, 0, stderr);
  const report = await Deno.readTextFile(`${ROOT}out/about.txt`);
  ok(report.includes("Debugging Information Utility ABOUT.TS"), report);
  ok(report.includes(` Deno Version: ${Deno.version.deno}\n`), report);
  match(report, /^ Date and Time: \d{4}-\d\d-\d\d at /m);
  for (const field of FIELDS) ok(report.includes(`\n ${field}: `), field);
});

Deno.test("check reports git as found or not found, never as an error", async () => {
  const { code, stdout } = await runTask("check");
  strictEqual(code, 0);
  match(stdout, /^ Git available in PATH: (yes, .+|not found)$/m);
});

Deno.test("check rejects an unknown flag in one line with exit code 2", async () => {
  const { code, stderr } = await runTask("check", ["--bogus"]);
  strictEqual(code, 2);
  strictEqual(stderr, "check: error: unknown flag --bogus (see --help)\n");
  ok(!/^\s+at /m.test(stderr), stderr);
});

Deno.test("about --help exits 0", async () => {
  const { code, stdout } = await runTask("about", ["--help"]);
  strictEqual(code, 0);
  ok(stdout.includes("out/about.txt"), stdout);
});
