/**
 * End-to-end encryption between the project's transfer tools and
 * OpenMSIStream itself, on a real broker, with nodes from both provisioning
 * tools (the same root password): the project's folder watcher sends,
 * OpenMSIStream's DataFileDownloadDirectory rebuilds; OpenMSIStream's
 * DataFileUploadDirectory sends, reconstruct_data_files rebuilds. Each
 * sender stays up meanwhile, so it answers the other's key requests. Files
 * SHA-512-identical; kcat finds no plaintext on the topic.
 */
import { ok, strictEqual } from "node:assert/strict";
import { BackgroundTask } from "./helpers/background_task.ts";
import { Reconstructor, sha512File, topicArgs } from "./helpers/kafka.ts";
import { markerHits } from "./helpers/kafka_readers.ts";
import {
  type EncryptedRig,
  withEncryptedRig,
} from "./helpers/kafkacrypto_peer.ts";
import {
  OpenMsiDirectoryUpload,
  OpenMsiDownloadDirectory,
  provisionOpenMsiNode,
  writeOpenMsiConfig,
} from "./helpers/openmsistream.ts";
import { ROOT } from "./helpers/run_task.ts";

const ROOT_PASSWORD = "lab root password h20b interop";
const MARKER = "PLAINTEXT-MARKER-h20b-interop";
const CHUNK_SIZE = 16 * 1024;

/** Text with the marker all through it, `lines` lines. */
function markedText(lines: number): string {
  return Array.from({ length: lines }, (_, i) => `${MARKER} line ${i}\n`)
    .join("");
}

/** The project's config for `bootstrap` encrypting as `nodeId` (beside it). */
async function projectConfig(
  nodesDir: string,
  bootstrap: string,
  nodeId: string,
): Promise<string> {
  const path = `${nodesDir}/project-${nodeId}.config`;
  await Deno.writeTextFile(
    `${ROOT}${path}`,
    `[cluster]\nbootstrap.servers = ${bootstrap}\n\n[producer]\nlinger.ms = 20\n\n` +
      `[consumer]\ngroup.id = new\nauto.offset.reset = earliest\nsession.timeout.ms = 6000\nheartbeat.interval.ms = 1000\n\n` +
      `[kafkacrypto]\nnode_id = ${nodeId}\n`,
  );
  return path;
}

/**
 * Provisions `projectNode` with provision_node and `omsiNode` with
 * simple-provision.py (for the rig's topic), both from the root password;
 * the project's config for the one, OpenMSIStream's for the other.
 */
async function provisionBoth(
  rig: EncryptedRig,
  projectNode: string,
  omsiNode: string,
): Promise<{ project: string; omsi: string }> {
  const { broker, nodesDir, topic } = rig;
  await provisionOpenMsiNode(
    nodesDir,
    projectNode,
    ROOT_PASSWORD,
    broker.bootstrap,
  );
  await provisionOpenMsiNode(
    nodesDir,
    omsiNode,
    ROOT_PASSWORD,
    broker.bootstrap,
    "simple-provision.py",
    topic,
  );
  // OpenMSIStream's reader keeps KafkaCrypto's default: it asks for a key
  // again only every 60 s (crypto_sub_interval), so it must read the answer
  // to its first request.
  return {
    project: await projectConfig(nodesDir, broker.bootstrap, projectNode),
    omsi: await writeOpenMsiConfig(nodesDir, broker.bootstrap, {
      nodeId: omsiNode,
    }),
  };
}

Deno.test("encrypted: the project's folder watcher sends, OpenMSIStream's DataFileDownloadDirectory rebuilds (node from simple-provision.py); SHA-512-identical, no plaintext on the broker", async () => {
  await withEncryptedRig(
    { nodes: "test-interop-", out: "interop-to-omsi", topic: "to_omsi" },
    async (rig) => {
      const { broker, outDir: dir, topic } = rig;
      const configs = await provisionBoth(rig, "proj_sender", "omsi_reader");
      const sendConfig = configs.project;
      const readConfig = configs.omsi;
      await Deno.mkdir(`${ROOT}${dir}/watched`);
      const watcher = new BackgroundTask(
        "upload_data_files_added_to_directory",
        [
          ...topicArgs(sendConfig, topic, CHUNK_SIZE),
          "--settle_seconds=0.5",
          "--update_seconds=-1",
          `${dir}/watched`,
        ],
      );
      let download: OpenMsiDownloadDirectory | undefined;
      let missing: string[] = [];
      try {
        await watcher.stdout.waitFor("Watching");
        await Deno.writeTextFile(
          `${ROOT}${dir}/watched/to_omsi.txt`,
          markedText(3000),
        );
        download = await OpenMsiDownloadDirectory.start(
          broker.bootstrap,
          readConfig,
          topic,
          `${ROOT}${dir}/rebuilt`,
        );
        // Well within the reader's 60 s between requests: an answer sent
        // once at once was lost (it starts reading ROOT.keys at the topic's
        // end, fixed only after its request went out), and the file came
        // only after its second request, a minute later.
        missing = await download.waitForCopies(
          [[
            `${ROOT}${dir}/rebuilt/to_omsi.txt`,
            `${ROOT}${dir}/watched/to_omsi.txt`,
          ]],
          40_000,
        );
      } finally {
        const stopped = await download?.stop();
        const ended = await watcher.quit();
        strictEqual(ended.code, 0, ended.stderr);
        for (const text of [stopped?.stdout, stopped?.stderr, ended.stdout]) {
          ok(!text?.includes(ROOT_PASSWORD));
        }
      }
      strictEqual(missing.length, 0, "OpenMSIStream did not rebuild the file");
      strictEqual(
        await sha512File(`${ROOT}${dir}/rebuilt/to_omsi.txt`),
        await sha512File(`${ROOT}${dir}/watched/to_omsi.txt`),
      );
      strictEqual(
        await markerHits(broker.bootstrap, topic, MARKER, { encrypted: true }),
        0,
      );
    },
  );
});

Deno.test("encrypted: OpenMSIStream's DataFileUploadDirectory sends (node from simple-provision.py), reconstruct_data_files rebuilds; SHA-512-identical, no plaintext on the broker", async () => {
  await withEncryptedRig(
    { nodes: "test-interop-", out: "interop-from-omsi", topic: "from_omsi" },
    async (rig) => {
      const { broker, outDir: dir, topic } = rig;
      const configs = await provisionBoth(rig, "proj_reader", "omsi_sender");
      const sendConfig = configs.omsi;
      const readConfig = configs.project;
      await Deno.mkdir(`${ROOT}${dir}/watched`);
      const text = markedText(4000);
      await Deno.writeTextFile(`${ROOT}${dir}/watched/from_omsi.txt`, text);
      const chunks = Math.ceil(
        new TextEncoder().encode(text).length / CHUNK_SIZE,
      );
      const upload = await OpenMsiDirectoryUpload.start(
        broker.bootstrap,
        sendConfig,
        topic,
        `${ROOT}${dir}/watched`,
        CHUNK_SIZE,
      );
      try {
        // The uploader stays up meanwhile: it answers the key requests.
        const run = await Reconstructor.rebuild(
          readConfig,
          topic,
          `${dir}/rebuilt`,
          [[
            `${dir}/rebuilt/from_omsi.txt`,
            new TextEncoder().encode(text).length,
          ]],
        );
        ok(!(run.stdout + run.stderr).includes(ROOT_PASSWORD));
      } finally {
        await upload.finish(broker.bootstrap, topic, chunks);
      }
      strictEqual(
        await sha512File(`${ROOT}${dir}/rebuilt/from_omsi.txt`),
        await sha512File(`${ROOT}${dir}/watched/from_omsi.txt`),
      );
      strictEqual(
        await markerHits(broker.bootstrap, topic, MARKER, { encrypted: true }),
        0,
      );
    },
  );
});
