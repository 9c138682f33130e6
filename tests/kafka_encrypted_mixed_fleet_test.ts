/**
 * An encrypted mixed fleet on a real broker: OpenMSIStream's
 * DataFileUploadDirectory (../shared/peers, with its KafkaCrypto node from
 * simple-provision.py) spreads each file's chunks over the partitions of a
 * 6-partition topic; two reconstructors in one consumer group, each with a
 * node of its own (two node folders provisioned with provision_node, both
 * allowed the topic), share the partitions and forward spread chunks
 * through the group's repartition topic still encrypted. Every file is
 * rebuilt exactly once, SHA-512-identical, and kcat finds neither the
 * marker in the contents nor the file names on the data topic or the
 * repartition topic.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { repartitionTopic } from "../lib/transfer/repartition.ts";
import { createTopic, Reconstructor, sha512File } from "./helpers/kafka.ts";
import { markerHits } from "./helpers/kafka_readers.ts";
import { withEncryptedRig } from "./helpers/kafkacrypto_peer.ts";
import {
  OpenMsiDirectoryUpload,
  provisionOpenMsiNode,
  writeOpenMsiConfig,
} from "./helpers/openmsistream.ts";
import { rebuiltIn, waitForRebuilt, waitUntilShared } from "./helpers/fleet.ts";
import { ROOT } from "./helpers/run_task.ts";

const PASSWORD = "encrypted mixed fleet root password";
const MARKER = "FLEET-MARKER-e2c91d";
/** In every file name: looked for on the broker too. */
const NAME_TOKEN = "fleetfile";
const CHUNK = 16 * 1024;
const PARTITIONS = 6;
/** Chunks per file: one-chunk files and files spread over many partitions. */
const FILE_CHUNKS = [1, 3, 9, 14, 22];

/** The project's config for `bootstrap`, encrypting as the node in `nodesDir`. */
async function memberConfig(
  nodesDir: string,
  bootstrap: string,
  nodeId: string,
): Promise<string> {
  const path = `${nodesDir}/member-${nodeId}.config`;
  await Deno.writeTextFile(
    `${ROOT}${path}`,
    `[cluster]\nbootstrap.servers = ${bootstrap}\n\n` +
      `[consumer]\nauto.offset.reset = earliest\nsession.timeout.ms = 6000\nheartbeat.interval.ms = 1000\n\n` +
      `[kafkacrypto]\nconfig_file = ${nodesDir}/${nodeId}/${nodeId}.config\n`,
  );
  return path;
}

/** Writes the files (the marker all through them); name -> SHA-512. */
async function writeFiles(folder: string): Promise<Map<string, string>> {
  await Deno.mkdir(`${ROOT}${folder}`, { recursive: true });
  const files = new Map<string, string>();
  for (const [i, chunks] of FILE_CHUNKS.entries()) {
    const name = `${NAME_TOKEN}_${i}.txt`;
    const line = `${MARKER} file ${i} line\n`;
    const size = chunks * CHUNK - 100 * i - 1;
    const text = line.repeat(Math.ceil(size / line.length)).slice(0, size);
    await Deno.writeTextFile(`${ROOT}${folder}/${name}`, text);
    files.set(name, await sha512File(`${ROOT}${folder}/${name}`));
  }
  return files;
}

Deno.test("encrypted mixed fleet: OpenMSIStream spreads encrypted chunks, a group of two reconstructors on two different nodes rebuilds every file once, SHA-512-identical; kcat finds no marker or file name on the data or repartition topic", async () => {
  await withEncryptedRig(
    { nodes: "fleet-", out: "enc_fleet", topic: "enc_fleet" },
    async ({ broker, nodesDir, outDir, topic }) => {
      await createTopic(broker.bootstrap, topic, PARTITIONS);
      // The sender: OpenMSIStream with a node from simple-provision.py.
      await provisionOpenMsiNode(
        nodesDir,
        "omsi_sender",
        PASSWORD,
        broker.bootstrap,
        "simple-provision.py",
        topic,
      );
      const sendConfig = await writeOpenMsiConfig(
        nodesDir,
        broker.bootstrap,
        { nodeId: "omsi_sender" },
      );
      // Two members, two nodes of their own, both allowed the topic.
      const group = `fleet-${crypto.randomUUID().slice(0, 8)}`;
      const dirs = [`${outDir}/member_a`, `${outDir}/member_b`];
      const members: Reconstructor[] = [];
      for (const [i, nodeId] of ["rebuild_a", "rebuild_b"].entries()) {
        await provisionOpenMsiNode(
          nodesDir,
          nodeId,
          PASSWORD,
          broker.bootstrap,
          "provision_node",
          topic,
        );
        const config = await memberConfig(nodesDir, broker.bootstrap, nodeId);
        members.push(
          Reconstructor.start(config, topic, dirs[i], [
            "--consumer_group_ID",
            group,
            "--n_threads",
            "2",
          ]),
        );
      }
      let upload: OpenMsiDirectoryUpload | undefined;
      try {
        await waitUntilShared(members, PARTITIONS, 90_000);
        const source = `${outDir}/source`;
        const files = await writeFiles(source);
        // The uploader stays up meanwhile: it answers both nodes' requests.
        upload = await OpenMsiDirectoryUpload.start(
          broker.bootstrap,
          sendConfig,
          topic,
          `${ROOT}${source}`,
          CHUNK,
        );
        await waitForRebuilt([...files.keys()], dirs, 240_000);
        const sent = FILE_CHUNKS.reduce((a, b) => a + b, 0);
        await upload.finish(broker.bootstrap, topic, sent);
        upload = undefined;
        // Each file once, in one of the two folders, identical.
        const found = await Promise.all(dirs.map(rebuiltIn));
        deepStrictEqual(found.flat().sort(), [...files.keys()].sort());
        for (const [i, dir] of dirs.entries()) {
          for (const name of found[i]) {
            strictEqual(
              await sha512File(`${ROOT}${dir}/${name}`),
              files.get(name),
              `${dir}/${name}`,
            );
          }
        }
        for (const [i, member] of members.entries()) {
          ok(
            member.stdout.text.includes(
              `Decrypting end to end as KafkaCrypto node rebuild_${"ab"[i]}`,
            ),
            member.stdout.text,
          );
        }
      } finally {
        await upload?.finish(broker.bootstrap, topic, 0);
        for (const member of members) {
          strictEqual((await member.quit()).code, 0, member.stderr.text);
        }
      }
      // Nothing readable on either topic (the repartition one is not empty).
      for (const seen of [topic, repartitionTopic(topic, group)]) {
        for (const text of [MARKER, NAME_TOKEN]) {
          strictEqual(
            await markerHits(broker.bootstrap, seen, text, { encrypted: true }),
            0,
            `${text} in plaintext on ${seen}`,
          );
        }
      }
    },
  );
});
