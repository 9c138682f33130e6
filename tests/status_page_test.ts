/**
 * `deno task status` in a real headless Chromium (Debian's): the page shows a
 * watcher that starts sending heartbeats, its file count and bytes change
 * when it uploads a file, and it is marked stale once it stopped, all without
 * a reload. Plus the one-line errors of a missing topic and a port in use.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { BackgroundTask } from "./helpers/background_task.ts";
import { HeadlessPage } from "./helpers/chromium.ts";
import {
  heartbeatArgs,
  Reconstructor,
  startTestBroker,
  type TestBroker,
  topicArgs,
  uniqueTopic,
  writeRandomFile,
  writeTestConfig,
} from "./helpers/kafka.ts";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";
import { startStatus } from "./helpers/status_events.ts";

/** The screenshot kept for the README and the report. */
const SCREENSHOT = `${ROOT}out/status_page.png`;

/** The page's row for program `id`, as the test reads it (or null). */
function rowOf(id: string): string {
  return `(() => {
    const row = document.querySelector('tr[data-program="${id}"]');
    if (!row) return null;
    return {
      stale: row.className === "stale",
      host: row.querySelector(".host").textContent,
      files: row.querySelector(".files").textContent,
      bytes: row.querySelector(".bytes").textContent,
      lag: row.querySelector(".lag").textContent,
      bars: row.querySelectorAll("svg rect").length,
      sameDocument: window.__loadedOnce === true,
    };
  })()`;
}

let broker: TestBroker;

Deno.test({
  name: "status: setup broker",
  fn: async () => {
    broker = await startTestBroker();
  },
  sanitizeResources: false,
  sanitizeOps: false,
});

Deno.test({
  name:
    "status: the page in Chromium shows a watcher appear, count its file and turn stale, without a reload",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await makeOutTempDir("status");
    const config = await writeTestConfig(dir, broker.bootstrap);
    const beats = uniqueTopic("status_beats");
    const { status, port } = await startStatus(config, beats);
    await status.stderr.waitFor("Showing heartbeats");
    const page = await HeadlessPage.open(`http://127.0.0.1:${port}/`);
    try {
      await page.waitUntil(
        `document.getElementById("state").textContent.startsWith("Updated") && !document.getElementById("empty").hidden`,
        "the empty page",
      );
      await page.evaluate("window.__loadedOnce = true");

      const watched = `${dir}/watched`;
      await Deno.mkdir(`${ROOT}${watched}`);
      const files = uniqueTopic("status_files");
      const watcher = new BackgroundTask(
        "upload_data_files_added_to_directory",
        [
          ...topicArgs(config, files, 16384),
          "--settle_seconds=0.5",
          ...heartbeatArgs(beats, "lab-pc-1"),
          watched,
        ],
      );
      await watcher.stdout.waitFor("Watching");
      // The program appears, alive, with nothing sent yet.
      const first = await page.waitUntil<{ files: string; host: string }>(
        rowOf("lab-pc-1"),
        "the watcher's row",
      );
      deepStrictEqual(first.files, "0");
      deepStrictEqual(first.host, Deno.hostname());
      // A file is uploaded: the counts change in the same document.
      await writeRandomFile(`${ROOT}${watched}/scope.bin`, 300 * 1024);
      const counted = await page.waitUntil<Record<string, unknown>>(
        `(() => { const r = ${
          rowOf("lab-pc-1")
        }; return r && r.files === "1" ? r : null; })()`,
        "the file counted",
      );
      deepStrictEqual(counted.bytes, "300.0 KiB");
      deepStrictEqual(counted.stale, false);
      deepStrictEqual(counted.sameDocument, true);
      ok(Number(counted.bars) >= 2);
      // A reconstructor rebuilds it: its row shows the file and the group lag.
      const reconstructor = Reconstructor.start(
        config,
        files,
        `${dir}/rebuilt`,
        [
          ...heartbeatArgs(beats, "rebuild-1"),
        ],
      );
      const rebuilt = await page.waitUntil<Record<string, unknown>>(
        `(() => { const r = ${
          rowOf("rebuild-1")
        }; return r && r.files === "1" && r.lag === "0" ? r : null; })()`,
        "the reconstructor's row with its file and lag",
      );
      deepStrictEqual(rebuilt.sameDocument, true);
      await page.screenshot(SCREENSHOT);
      // Stopped, the watcher misses its heartbeats and is marked stale.
      deepStrictEqual((await watcher.quit()).code, 0);
      const stale = await page.waitUntil<Record<string, unknown>>(
        `(() => { const r = ${
          rowOf("lab-pc-1")
        }; return r && r.stale ? r : null; })()`,
        "the stale mark",
      );
      deepStrictEqual(stale.sameDocument, true);
      const state = await page.evaluate<string>(
        `document.getElementById("state").textContent`,
      );
      ok(state.includes("2 program(s), 1 stale"), state);
      await page.screenshot(SCREENSHOT.replace(".png", "_stale.png"));
      deepStrictEqual((await reconstructor.quit()).code, 0);
    } finally {
      await page.close();
      status.child.kill("SIGTERM");
    }
    const { code } = await status.child.status;
    deepStrictEqual(code, 0);
    ok((await status.stderr.all()).includes("Stopped."));
  },
});

Deno.test("status: no --heartbeat_topic_name is one line and exit code 2", async () => {
  const { code, stdout, stderr } = await runTask("status", ["--port", "1"]);
  deepStrictEqual(code, 2);
  const output = (stdout + stderr).trim();
  ok(output.includes("--heartbeat_topic_name"), output);
  ok(!output.includes("    at "), output);
});

Deno.test({
  name: "status: a port in use is one line",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await makeOutTempDir("status_port");
    const config = await writeTestConfig(dir, broker.bootstrap);
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const { code, stdout, stderr } = await runTask("status", [
        "--config",
        config,
        "--heartbeat_topic_name",
        uniqueTopic("status_port"),
        "--port",
        String(taken.addr.port),
      ]);
      const output = (stdout + stderr).trim();
      deepStrictEqual(code, 1, output);
      ok(output.endsWith("is in use; choose another with --port"), output);
      deepStrictEqual(output.split("\n").length, 1, output);
    } finally {
      taken.close();
    }
  },
});

Deno.test({
  name: "status: release the shared broker",
  fn: async () => {
    await broker.stop();
  },
  sanitizeResources: false,
  sanitizeOps: false,
});
