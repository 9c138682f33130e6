/**
 * Check your machine: what Deno, the OS and the course's tools look like.
 *
 * Run it (assignment task 4):
 *
 *     deno task check
 *
 * Permissions, and why (see the `check` task in deno.json):
 *
 * - `--allow-read=deno.json,node_modules`: to say whether the project's config
 *   and its npm packages are there.
 * - `--allow-write=out`: to save the report as `out/00_report_core.txt`.
 * - `--allow-env=HOME,USERPROFILE,TERM_PROGRAM,SHELL,ComSpec`: your home folder,
 *   your terminal and your shell. No other variable can be read.
 * - `--allow-sys=osRelease`: the release of your operating system.
 * - `--allow-run=git,java,mvn`: to ask those three tools for their versions
 *   (the Kafka scripts need Java and Maven). When one is missing, Deno says
 *   `Info Failed to resolve 'mvn' for allow-run` before the report: that is
 *   Deno noticing the same thing the report will tell you.
 *
 * APIs: https://docs.deno.com/api/deno/~/Deno.build,
 * https://docs.deno.com/api/deno/~/Deno.version,
 * https://docs.deno.com/api/deno/~/Deno.Command
 *
 * The Python original downloaded a diagnostics script from the internet and
 * ran it. This one works offline and runs nothing it did not bring along: the
 * report is built in `lib/course/environment_report.ts`, which `deno task about`
 * shares. Try running it inside VS Code's terminal and in a native one, and
 * compare the "Terminal Environment" line.
 *
 * @module
 */
import { runReportScript } from "../lib/course/environment_report.ts";

/** Where the report is saved; commit it if your assignment asks for it. */
const REPORT_PATH = "out/00_report_core.txt";

/** The first line of the report, as in the original. */
const TITLE = "Welcome to NW Diagnostics!";

// Execution starts here, when the file is run rather than imported.
if (import.meta.main) {
  await runReportScript({
    program: "check",
    summary: "Report on Deno, the OS and git/java/mvn.",
    path: REPORT_PATH,
    title: TITLE,
    dateLabel: "At",
    scriptUrl: import.meta.url,
  });
}

// A run prints (your values differ):
//
// ======================================================================
// ======================================================================
//  Welcome to NW Diagnostics!
//  At: 2025-11-22 at 12:10 AM
//  Operating System: linux 6.18.44-fc-v595
//  System Architecture: x86_64
//  Number of CPUs: 2
//  Machine Type: x86_64-unknown-linux-gnu
//  Deno Version: 2.9.6
//  V8 Version: 15.0.245.2-rusty
//  TypeScript Version: 6.0.3
//  Path to Deno: /usr/lib/node_modules/deno/deno
//  Deno Config File: /work/main/deno.json
//  npm Packages Folder: /work/main/node_modules
//  Current Working Directory: /work/main
//  Path to source directory: /work/main/scripts
//  Path to script file: /work/main/scripts/00_check.ts
//  User's Home Directory: /root
//  Terminal Environment: Native Terminal
//  Terminal Type: bash
//  Git available in PATH: yes, git version 2.39.5
//  Java available in PATH: yes, openjdk version "17.0.15" 2025-04-15
//  Maven available in PATH: yes, Apache Maven 3.8.7
// ======================================================================
// ======================================================================
// Report saved to out/00_report_core.txt.
