/**
 * Heartbeats and log messages under a `[kafkacrypto]` config, on a real
 * broker. OpenMSIStream sends them through the same KafkaCrypto producer
 * group as its data (encrypted) unless `[heartbeat]` / `[log]` says
 * `prefer.separate.producer` (a plain producer of their own); the watcher
 * and the reconstructor here do the same. kcat, reading the broker, finds
 * no program ID, host, file name or marker on the heartbeat and log
 * topics, every value in KafkaCrypto's format; the status page, run with
 * the encrypted config, still shows both programs and the file counted.
 * With `prefer.separate.producer` the heartbeats are plaintext again.
 */
import { ok, strictEqual } from "node:assert/strict";
import { BackgroundTask } from "./helpers/background_task.ts";
import {
  heartbeatArgs,
  Reconstructor,
  sha512File,
  topicArgs,
  uniqueTopic,
} from "./helpers/kafka.ts";
import {
  hostAsSent,
  markerHits,
  readWithKcat,
} from "./helpers/kafka_readers.ts";
import {
  provisionWithTask,
  withEncryptedRig,
} from "./helpers/kafkacrypto_peer.ts";
import { ROOT, runTask } from "./helpers/run_task.ts";
import { startStatus, waitForStatusView } from "./helpers/status_events.ts";

const PASSWORD = "encrypted heartbeats root password";
const MARKER = "HEARTBEAT-MARKER-51c0de";

/** A config for `bootstrap` that encrypts as the node in `nodeConfig`. */
async function encryptedConfig(
  dir: string,
  bootstrap: string,
  nodeConfig: string,
  extra = "",
): Promise<string> {
  const path = `${dir}/enc-${crypto.randomUUID().slice(0, 8)}.config`;
  await Deno.writeTextFile(
    `${ROOT}${path}`,
    `[cluster]\nbootstrap.servers = ${bootstrap}\n\n[producer]\nlinger.ms = 20\n\n` +
      `[consumer]\ngroup.id = new\nauto.offset.reset = earliest\nsession.timeout.ms = 6000\nheartbeat.interval.ms = 1000\n\n` +
      `[kafkacrypto]\nconfig_file = ${nodeConfig}\n${extra}`,
  );
  return path;
}

/** The logs topic flags. */
function logArgs(topic: string, programId: string): string[] {
  return [
    "--log_topic_name",
    topic,
    "--log_program_id",
    programId,
    "--log_interval_secs",
    "1",
  ];
}

Deno.test("encrypted heartbeats: with [kafkacrypto] the watcher's and reconstructor's heartbeats and logs are encrypted (kcat sees no ID, host, file name or marker); status decrypts them; prefer.separate.producer sends them plain", async () => {
  await withEncryptedRig(
    { nodes: "hb-", out: "enc_hb", topic: "enc_hb" },
    async ({ broker, nodesDir, outDir, topic }) => {
      const provisioned = await provisionWithTask(nodesDir, "lab_pc", PASSWORD);
      strictEqual(provisioned.code, 0, provisioned.stderr);
      const nodeConfig = `${nodesDir}/lab_pc/lab_pc.config`;
      const config = await encryptedConfig(
        outDir,
        broker.bootstrap,
        nodeConfig,
      );
      const beats = uniqueTopic("enc_beats");
      const logs = uniqueTopic("enc_logs");
      const { status, port } = await startStatus(config, beats);
      const watched = `${outDir}/watched`;
      await Deno.mkdir(`${ROOT}${watched}`);
      const name = `${MARKER}-scope.txt`;
      await Deno.writeTextFile(
        `${ROOT}${watched}/${name}`,
        `${MARKER} trace data\n`.repeat(200),
      );
      const watcher = new BackgroundTask(
        "upload_data_files_added_to_directory",
        [
          ...topicArgs(config, topic, 4096),
          "--settle_seconds=0.5",
          ...heartbeatArgs(beats, `${MARKER}-watcher`),
          ...logArgs(logs, `${MARKER}-watcher`),
          watched,
        ],
      );
      const reconstructor = Reconstructor.start(
        config,
        topic,
        `${outDir}/rebuilt`,
        [
          ...heartbeatArgs(beats, `${MARKER}-rebuild`),
          ...logArgs(logs, `${MARKER}-rebuild`),
          "--key_wait_seconds",
          "30",
        ],
      );
      try {
        await status.stderr.waitFor("Showing heartbeats");
        await watcher.stdout.waitFor("Watching");
        // The status page, reading as the node, shows both, the file counted.
        const view = await waitForStatusView(
          port,
          (v) =>
            v.programs.some((p) =>
              p.id === `${MARKER}-watcher` &&
              (p.totals as { files: number }).files === 1
            ) &&
            v.programs.some((p) =>
              p.id === `${MARKER}-rebuild` &&
              (p.totals as { files: number }).files === 1
            ),
        );
        strictEqual(view.programs.length, 2);
        strictEqual(
          await sha512File(`${ROOT}${outDir}/rebuilt/${name}`),
          await sha512File(`${ROOT}${watched}/${name}`),
        );
      } finally {
        strictEqual((await watcher.quit()).code, 0);
        strictEqual((await reconstructor.quit()).code, 0);
        status.child.kill("SIGTERM");
        strictEqual((await status.child.status).code, 0);
      }
      // kcat: nothing readable on either topic, every message KafkaCrypto's.
      for (const side of [beats, logs]) {
        for (
          const text of [
            MARKER,
            "_heartbeat",
            "_log",
            hostAsSent(),
            "upload",
          ]
        ) {
          strictEqual(
            await markerHits(broker.bootstrap, side, text, { encrypted: true }),
            0,
            `${text} in plaintext on ${side}`,
          );
        }
        for (const message of await readWithKcat(broker.bootstrap, side)) {
          strictEqual(message.key.charCodeAt(0), 1, "key not encrypted");
        }
      }

      // The opt-out OpenMSIStream has: a separate (plain) heartbeat producer.
      const plainBeats = uniqueTopic("plain_beats");
      const separate = await encryptedConfig(
        outDir,
        broker.bootstrap,
        nodeConfig,
        "\n[heartbeat]\nprefer.separate.producer = True\n",
      );
      const second = new BackgroundTask(
        "upload_data_files_added_to_directory",
        [
          ...topicArgs(separate, topic, 4096),
          "--settle_seconds=0.5",
          ...heartbeatArgs(plainBeats, `${MARKER}-plain`),
          watched,
        ],
      );
      await second.stdout.waitFor("Watching");
      strictEqual((await second.quit()).code, 0);
      ok(
        await markerHits(
          broker.bootstrap,
          plainBeats,
          `${MARKER}-plain_heartbeat`,
        ) >
          0,
        "the separate producer's heartbeats are plaintext",
      );
      // ... with the host as the check on the encrypted topics looks for it.
      ok(
        await markerHits(broker.bootstrap, plainBeats, hostAsSent()) > 0,
        `no ${hostAsSent()} in the plain heartbeats`,
      );

      // A node not allowed the heartbeat topic: one line, exit 1, at start.
      const narrow = await provisionWithTask(
        nodesDir,
        "narrow",
        PASSWORD,
        topic,
      );
      strictEqual(narrow.code, 0, narrow.stderr);
      const narrowConfig = await encryptedConfig(
        outDir,
        broker.bootstrap,
        `${nodesDir}/narrow/narrow.config`,
      );
      const refused = await runTask("upload_data_files_added_to_directory", [
        ...topicArgs(narrowConfig, topic, 4096),
        ...heartbeatArgs(uniqueTopic("narrow_beats"), "narrow"),
        watched,
      ]);
      strictEqual(refused.code, 1, refused.stderr);
      const lines = refused.stderr.trim().split("\n");
      strictEqual(lines.length, 1, refused.stderr);
      ok(lines[0].includes("--heartbeat_topic_name"), lines[0]);
      ok(lines[0].includes("prefer.separate.producer"), lines[0]);
    },
  );
});
