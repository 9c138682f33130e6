/**
 * About this machine: the same facts as `deno task check`, saved as out/about.txt.
 *
 * Run it:
 *
 *     deno task about
 *
 * Permissions, and why (see the `about` task in deno.json): the same as
 * `deno task check`. Read `deno.json` and `node_modules` (are they there?),
 * write `out/` (the report), read five environment variables (home, terminal,
 * shell), the OS release, and run `git`, `java` and `mvn` for their versions.
 *
 * API: https://docs.deno.com/api/deno/~/Deno.build
 *
 * The Python original, `about.py`, was the debugging page you attach when you
 * ask for help: paste `out/about.txt` into your question and whoever answers
 * knows which Deno, OS and tools you have. The report itself is built in
 * `lib/course/environment_report.ts`; this file only picks its title and its path.
 *
 * @module
 */
import { runReportScript } from "../lib/course/environment_report.ts";

/** Where the report is saved. */
const REPORT_PATH = "out/about.txt";

/** The first line of the report (the original's said Python and ABOUT.PY). */
const TITLE = "Welcome to the Deno Debugging Information Utility ABOUT.TS";

// Execution starts here, when the file is run rather than imported.
if (import.meta.main) {
  await runReportScript({
    program: "about",
    summary: "Debugging information about Deno and this machine.",
    path: REPORT_PATH,
    title: TITLE,
    dateLabel: "Date and Time",
    scriptUrl: import.meta.url,
  });
}

// A run prints the same fields as `deno task check` under its own title:
//
// ======================================================================
// ======================================================================
//  Welcome to the Deno Debugging Information Utility ABOUT.TS
//  Date and Time: 2025-11-22 at 12:10 AM
//  Operating System: linux 6.18.44-fc-v595
//  ...
//  Maven available in PATH: yes, Apache Maven 3.8.7
// ======================================================================
// ======================================================================
// Report saved to out/about.txt.
