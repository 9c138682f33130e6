/**
 * A config with OpenMSIStream's `[kafkacrypto]` section asks for end-to-end
 * encryption. When its node's files cannot be found, each transfer tool
 * refuses in one line, before it connects to Kafka: never plaintext where
 * ciphertext was asked for. (Encrypted transfers themselves:
 * kafka_encrypted_transfer_test.ts.)
 */
import { ok, strictEqual } from "node:assert/strict";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";

Deno.test("upload, folder upload and rebuild refuse a [kafkacrypto] config whose node files are missing in one line, before connecting", async () => {
  const dir = await makeOutTempDir("kafkacrypto-config");
  try {
    // Port 1 has no broker: a tool that tried to connect would fail differently.
    const config = `${dir}/encrypted.config`;
    // A name no one provisioned (not even in this checkout's .kafkacrypto).
    const node = `missing_${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeTextFile(
      `${ROOT}${config}`,
      `[cluster]\nbootstrap.servers = 127.0.0.1:1\n\n[kafkacrypto]\nnode_id = ${node}\n`,
    );
    await Deno.writeTextFile(`${ROOT}${dir}/data.txt`, "instrument data\n");
    await Deno.mkdir(`${ROOT}${dir}/watched`);
    const runs = [
      ["upload_data_file", [`${dir}/data.txt`]],
      ["upload_data_files_added_to_directory", [`${dir}/watched`]],
      ["reconstruct_data_files", [`${dir}/rebuilt`]],
    ] as const;
    for (const [task, args] of runs) {
      const result = await runTask(task, [
        ...args,
        "--config",
        config,
        "--topic_name",
        "secret_files",
      ]);
      strictEqual(result.code, 1, `${task}: ${result.stdout}${result.stderr}`);
      const lines = result.stderr.trim().split("\n");
      strictEqual(lines.length, 1, `${task}: ${result.stderr}`);
      ok(
        lines[0].includes(
          `${config}: [kafkacrypto] node ${node}: no node config found (looked for config/${node}/${node}.config, ${dir}/${node}/${node}.config, ${node}/${node}.config, .kafkacrypto/${node}/${node}.config; make one with deno task provision_node)`,
        ),
        `${task}: ${lines[0]}`,
      );
      ok(!result.stderr.includes("Uncaught"));
    }
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});
