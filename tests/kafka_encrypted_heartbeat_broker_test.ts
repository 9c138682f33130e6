/**
 * `[heartbeat]` naming a broker of its own, under `[kafkacrypto]`: the
 * reconstructor's heartbeats go to that second broker, encrypted (kcat
 * there finds no program ID or marker, every key in KafkaCrypto's format),
 * while the keys travel over the main cluster's `ROOT.keys` / `ROOT.reqs`;
 * the status page, run with the same config, reads the second broker and
 * decrypts them as its own node. The second broker is a real one-node Kafka
 * started for this test (`TEST_KAFKA_SECOND_PORT`, default 19292, and the
 * port after it for its controller).
 */
import { ok, strictEqual } from "node:assert/strict";
import { heartbeatArgs, Reconstructor, uniqueTopic } from "./helpers/kafka.ts";
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

const PASSWORD = "heartbeat broker root password";
const MARKER = "HB-BROKER-MARKER-7e11a";
const SECOND_PORT = Number(Deno.env.get("TEST_KAFKA_SECOND_PORT") ?? 19292);

Deno.test("[heartbeat] on a broker of its own with [kafkacrypto]: heartbeats arrive there encrypted, keys go over the main cluster, status decrypts them", async () => {
  const port = String(SECOND_PORT);
  const started = await runTask("kafka", ["start", "--port", port]);
  strictEqual(started.code, 0, started.stderr);
  try {
    await withEncryptedRig(
      { nodes: "hbb-", out: "enc_hbb", topic: "enc_hbb" },
      async ({ broker, nodesDir, outDir, topic }) => {
        const provisioned = await provisionWithTask(
          nodesDir,
          "lab_pc",
          PASSWORD,
        );
        strictEqual(provisioned.code, 0, provisioned.stderr);
        const second = `127.0.0.1:${port}`;
        const config = `${outDir}/side.config`;
        await Deno.writeTextFile(
          `${ROOT}${config}`,
          `[cluster]\nbootstrap.servers = ${broker.bootstrap}\n\n` +
            `[consumer]\ngroup.id = new\nauto.offset.reset = earliest\n\n` +
            `[heartbeat]\nbootstrap.servers = ${second}\n\n` +
            `[kafkacrypto]\nconfig_file = ${nodesDir}/lab_pc/lab_pc.config\n`,
        );
        const beats = uniqueTopic("side_beats");
        const { status, port: statusPort } = await startStatus(config, beats);
        const reconstructor = Reconstructor.start(
          config,
          topic,
          `${outDir}/rebuilt`,
          heartbeatArgs(beats, `${MARKER}-rebuild`),
        );
        try {
          await status.stderr.waitFor("Showing heartbeats");
          ok(
            status.stderr.text.includes(second),
            `status names ${second}: ${status.stderr.text}`,
          );
          await waitForStatusView(
            statusPort,
            (view) => view.programs.some((p) => p.id === `${MARKER}-rebuild`),
          );
        } finally {
          strictEqual((await reconstructor.quit()).code, 0);
          status.child.kill("SIGTERM");
          strictEqual((await status.child.status).code, 0);
        }
        // On the second broker: the heartbeats, none of them readable.
        const onSecond = await readWithKcat(second, beats);
        ok(onSecond.length > 0, "no heartbeat reached the second broker");
        for (const message of onSecond) {
          strictEqual(message.key.charCodeAt(0), 1, "key not encrypted");
        }
        for (const text of [MARKER, "_heartbeat", hostAsSent()]) {
          strictEqual(
            await markerHits(second, beats, text, { encrypted: true }),
            0,
            `${text} in plaintext on the second broker`,
          );
        }
      },
    );
  } finally {
    await runTask("kafka", ["stop", "--port", port]);
  }
});
