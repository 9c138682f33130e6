/**
 * A real SASL_SSL broker (`deno task kafka start --secure`): SCRAM-SHA-512
 * with a generated user, a keytool-made CA, and the client config it writes.
 * Files go round over it; a wrong password, a certificate from another CA and
 * a plaintext client each get one line; the password is printed nowhere.
 */
import { deepStrictEqual, match, ok } from "node:assert/strict";
import { createCertificateAuthority } from "../lib/kafka/local_security.ts";
import {
  Reconstructor,
  sha512File,
  uniqueTopic,
  writeRandomFile,
} from "./helpers/kafka.ts";
import { SECURE_PORT, TestCluster } from "./helpers/kafka_cluster.ts";
import {
  makeOutTempDir,
  ROOT,
  runTask,
  type TaskResult,
} from "./helpers/run_task.ts";
import { BackgroundTask } from "./helpers/background_task.ts";

/** Reads `KAFKA_USERNAME=...` lines of the credentials file. */
async function readCredentials(path: string): Promise<Record<string, string>> {
  const text = await Deno.readTextFile(`${ROOT}${path}`);
  return Object.fromEntries(
    text.split("\n").filter((line) => /^KAFKA_\w+=/.test(line)).map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)];
    }),
  );
}

/** Runs upload_data_file with `config` and `env`, killed if it takes over 30 s. */
async function uploadWithin30s(
  config: string,
  path: string,
  env: Record<string, string>,
): Promise<TaskResult> {
  const task = new BackgroundTask("upload_data_file", [
    "--config",
    config,
    path,
  ], env);
  const timer = setTimeout(() => task.child.kill("SIGKILL"), 30_000);
  const { code } = await task.child.status;
  clearTimeout(timer);
  return {
    code,
    stdout: await task.stdout.all(),
    stderr: await task.stderr.all(),
  };
}

/** Exactly one line on stderr, exit code 1, no stack trace. */
function assertOneLineError(run: TaskResult, pattern: RegExp): void {
  deepStrictEqual(run.code, 1, run.stdout + run.stderr);
  match(run.stderr, /^upload_data_file: error: [^\n]*\n$/);
  match(run.stderr, pattern);
}

/** Every file under `dir` (relative to the project root), recursively. */
async function allFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await allFiles(path));
    else if (entry.isFile) files.push(path);
  }
  return files;
}

Deno.test("a SASL_SSL broker with SCRAM: files round-trip, bad logins are one line, the password is printed nowhere", async (t) => {
  // Empty variables count as unset: the user is generated.
  const noUser = { KAFKA_USERNAME: "", KAFKA_PASSWORD: "" };
  const { cluster, started } = await TestCluster.fresh(
    SECURE_PORT,
    1,
    ["--secure"],
    noUser,
  );
  const dir = await makeOutTempDir("secure");
  const outputs: string[] = [started.stdout, started.stderr];
  const credentialsFile = `${cluster.dir}/credentials`;
  const credentials = await readCredentials(credentialsFile);
  const clientConfig = `${cluster.dir}/client.config`;
  try {
    await t.step(
      "start names the client config and how to set the two variables; the generated credentials are private",
      async () => {
        assertIncludes(started.stdout, `Client config: ${clientConfig}`);
        assertIncludes(
          started.stdout,
          `set -a; . ${credentialsFile}; set +a`,
        );
        deepStrictEqual(
          (await Deno.stat(`${ROOT}${credentialsFile}`)).mode! & 0o777,
          0o600,
        );
        ok(credentials.KAFKA_USERNAME && credentials.KAFKA_PASSWORD);
        const config = await Deno.readTextFile(`${ROOT}${clientConfig}`);
        assertIncludes(config, "security.protocol = SASL_SSL");
        assertIncludes(config, "sasl.mechanism = SCRAM-SHA-512");
        assertIncludes(config, "sasl.password = $KAFKA_PASSWORD");
        assertIncludes(
          config,
          `ssl.ca.location = ${ROOT}${cluster.dir}/tls/ca.pem`,
        );
      },
    );

    await t.step("a file goes up and comes back over SASL_SSL", async () => {
      const topic = uniqueTopic("secure");
      const source = `${dir}/secure.bin`;
      await writeRandomFile(`${ROOT}${source}`, 200_000);
      const upload = await runTask("upload_data_file", [
        "--config",
        clientConfig,
        "--topic_name",
        topic,
        source,
      ], { env: credentials });
      outputs.push(upload.stdout, upload.stderr);
      deepStrictEqual(upload.code, 0, upload.stderr);
      assertIncludes(upload.stdout + upload.stderr, "SASL SCRAM-SHA-512");
      assertIncludes(upload.stdout + upload.stderr, "Done!");

      const rebuilt = `${dir}/rebuilt`;
      const reconstructor = new Reconstructor(
        ["--config", clientConfig, "--topic_name", topic, rebuilt],
        credentials,
      );
      await reconstructor.waitForFiles([[`${rebuilt}/secure.bin`, 200_000]]);
      const run = await reconstructor.quit();
      outputs.push(run.stdout, run.stderr);
      deepStrictEqual(run.code, 0, run.stderr);
      deepStrictEqual(
        await sha512File(`${ROOT}${rebuilt}/secure.bin`),
        await sha512File(`${ROOT}${source}`),
      );
    });

    await t.step(
      "a wrong password: one line naming the user, exit 1 within 30 s, one login attempt",
      async () => {
        const log = `${ROOT}${cluster.dir}/broker.log`;
        const failuresBefore = countFailedLogins(await Deno.readTextFile(log));
        const run = await uploadWithin30s(clientConfig, "deno.json", {
          ...credentials,
          KAFKA_PASSWORD: "not-the-password",
        });
        outputs.push(run.stdout, run.stderr);
        assertOneLineError(
          run,
          new RegExp(
            `authentication failed for user ${credentials.KAFKA_USERNAME} `,
          ),
        );
        const failures = countFailedLogins(await Deno.readTextFile(log)) -
          failuresBefore;
        ok(failures >= 1 && failures <= 2, `${failures} failed logins`);
      },
    );

    await t.step(
      "a certificate from another CA: one line naming TLS",
      async () => {
        const otherCa = await createCertificateAuthority(
          `${ROOT}${dir}/other-ca`,
          "another-ca-password",
          "Another CA",
        );
        const config = `${dir}/other-ca.config`;
        await Deno.writeTextFile(
          `${ROOT}${config}`,
          (await Deno.readTextFile(`${ROOT}${clientConfig}`)).replace(
            /^ssl\.ca\.location = .*$/m,
            `ssl.ca.location = ${otherCa}`,
          ),
        );
        const run = await uploadWithin30s(config, "deno.json", credentials);
        outputs.push(run.stdout, run.stderr);
        assertOneLineError(run, /TLS: the certificate of .* is not trusted/);
      },
    );

    await t.step("a plaintext client at the TLS port: one line", async () => {
      const config = `${dir}/plaintext.config`;
      await Deno.writeTextFile(
        `${ROOT}${config}`,
        `[cluster]\nbootstrap.servers = 127.0.0.1:${SECURE_PORT}\n`,
      );
      const run = await uploadWithin30s(config, "deno.json", credentials);
      outputs.push(run.stdout, run.stderr);
      assertOneLineError(run, /closed the connection.*security\.protocol/);
    });

    await t.step(
      "the password appears in no output and no file but the credentials file",
      async () => {
        const password = credentials.KAFKA_PASSWORD;
        for (const output of outputs) ok(!output.includes(password));
        const files = [
          ...await allFiles(cluster.dir),
          ...await allFiles(dir),
        ].filter((path) => path !== credentialsFile);
        ok(files.some((path) => path.endsWith("broker.log")));
        for (const path of files) {
          const bytes = await Deno.readFile(`${ROOT}${path}`);
          ok(
            !new TextDecoder().decode(bytes).includes(password),
            `the password is in ${path}`,
          );
        }
      },
    );
  } finally {
    await cluster.stop();
    await Deno.remove(`${ROOT}${dir}`, { recursive: true });
  }
});

/** Failed logins the broker logged. */
function countFailedLogins(log: string): number {
  return (log.match(/Failed authentication with/g) ?? []).length;
}

function assertIncludes(text: string, part: string): void {
  ok(text.includes(part), `expected ${JSON.stringify(part)} in:\n${text}`);
}
