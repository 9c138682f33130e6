/**
 * A config with OpenMSIStream's `[kafkacrypto]` section asks for end-to-end
 * encryption. Until the transfer tools encrypt, each refuses such a config
 * in one line, before it connects to Kafka: never plaintext where
 * ciphertext was asked for.
 */
import { ok, strictEqual } from "node:assert/strict";
import { makeOutTempDir, ROOT, runTask } from "./helpers/run_task.ts";

Deno.test("upload, folder upload and rebuild refuse a [kafkacrypto] config in one line, before connecting", async () => {
  const dir = await makeOutTempDir("kafkacrypto-config");
  try {
    // Port 1 has no broker: a tool that tried to connect would fail differently.
    const config = `${dir}/encrypted.config`;
    await Deno.writeTextFile(
      `${ROOT}${config}`,
      "[cluster]\nbootstrap.servers = 127.0.0.1:1\n\n[kafkacrypto]\nnode_id = lab_pc_1\n",
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
        lines[0].endsWith(
          "[kafkacrypto] asks for end-to-end encryption, which the transfer tools cannot do yet; nothing was sent (remove the section to send unencrypted)",
        ),
        `${task}: ${lines[0]}`,
      );
      ok(!result.stderr.includes("Uncaught"));
    }
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});
