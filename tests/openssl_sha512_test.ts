/**
 * A big file's whole SHA-512 by the `openssl` program (openssl_sha512.ts):
 * the same 64 bytes as node:crypto's, whatever the file is called; nothing
 * (so the upload hashes the file itself) when the program is missing, fails
 * or answers something else. An upload's first pass asks it once for a big
 * file, and the file's and every chunk's hash come out the same without it
 * (not allowed to run, or no worker to hash the small chunks beside it) and
 * with a slow one (big chunks are hashed while it runs), in small chunks and
 * big; a file that changes, or is replaced, while openssl reads it is
 * refused, not sent with a stale hash; a stopped openssl ends at once.
 */
import { ok, strictEqual } from "node:assert/strict";
import { opensslSha512 } from "../lib/common/openssl_sha512.ts";
import { sha512, toHex } from "../lib/transfer/chunk.ts";
import { randomBytes } from "./helpers/chunk_messages.ts";

/** 16 MiB and a bit: big enough to be hashed on the side. */
const BIG = 16 * 1024 * 1024 + 12345;

/** Each `chunkSize` piece's SHA-512 of `bytes`, back to back. */
function chunkHashes(bytes: Uint8Array, chunkSize: number): Uint8Array {
  const count = Math.ceil(bytes.length / chunkSize);
  const hashes = new Uint8Array(count * 64);
  for (let i = 0; i < count; i++) {
    hashes.set(
      sha512(bytes.subarray(i * chunkSize, (i + 1) * chunkSize)),
      i * 64,
    );
  }
  return hashes;
}

/**
 * Runs tests/helpers/plan_hash_of.ts on `path` in chunks of `chunkSize`,
 * allowed to run `allowRun` (and to read `allowRead`, default everything),
 * with `bin` first on its PATH.
 */
async function planInProcess(
  path: string,
  chunkSize: number,
  bin: string,
  allowRun: string,
  allowRead = "",
): Promise<{ code: number; text: string }> {
  const run = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      allowRead ? `--allow-read=${allowRead}` : "--allow-read",
      "--allow-write=out",
      `--allow-run=${allowRun}`,
      new URL("./helpers/plan_hash_of.ts", import.meta.url).pathname,
      path,
      String(chunkSize),
    ],
    env: { PATH: `${bin}:${Deno.env.get("PATH")}` },
    stderr: "inherit",
  }).output();
  return { code: run.code, text: new TextDecoder().decode(run.stdout).trim() };
}

Deno.test("opensslSha512", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "openssl_sha512_" });
  try {
    const bytes = randomBytes(3 * 1024 * 1024 + 7);
    // A name openssl would take for an option if it were passed as is.
    const path = `${dir}/-in.bin`;
    await Deno.writeFile(path, bytes);

    await t.step("node:crypto's hash, for a name starting with -", async () => {
      const home = Deno.cwd();
      Deno.chdir(dir); // So that the name given is "-in.bin" itself.
      try {
        const hash = await opensslSha512("-in.bin");
        ok(hash, "openssl gave no hash");
        strictEqual(toHex(hash), toHex(sha512(bytes)));
      } finally {
        Deno.chdir(home);
      }
    });
    await t.step("nothing for a file it cannot read", async () => {
      strictEqual(await opensslSha512(`${dir}/missing.bin`), undefined);
    });
    await t.step("nothing once stopped, and the program is gone", async () => {
      const pidFile = `${dir}/pid`;
      const slow = `${dir}/slow-openssl`;
      await Deno.writeTextFile(
        slow,
        `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 60\n`,
        { mode: 0o755 },
      );
      const stop = new AbortController();
      const hashing = opensslSha512(path, {
        program: slow,
        signal: stop.signal,
      });
      while (!(await Deno.readTextFile(pidFile).catch(() => ""))) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      stop.abort();
      strictEqual(await hashing, undefined);
      const pid = Number((await Deno.readTextFile(pidFile)).trim());
      const alive = await Deno.stat(`/proc/${pid}`).then(
        () => true,
        () => false,
      );
      strictEqual(alive, false, `the program (pid ${pid}) still runs`);
    });
    await t.step(
      "nothing without the program, or from another one",
      async () => {
        strictEqual(
          await opensslSha512(path, { program: `${dir}/no-such-openssl` }),
          undefined,
        );
        // echo prints its arguments: not 64 bytes of hash.
        strictEqual(await opensslSha512(path, { program: "echo" }), undefined);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("planChunks hashes a big file by openssl once, the same without it or with a slow one, and refuses a file changed meanwhile", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "openssl_plan_" });
  try {
    const bin = `${dir}/bin`;
    await Deno.mkdir(bin);
    const calls = `${dir}/calls.txt`;
    const openssl = new Deno.Command("sh", {
      args: ["-c", "command -v openssl"],
    }).outputSync();
    const real = new TextDecoder().decode(openssl.stdout).trim();
    ok(real, "no openssl on PATH");
    // An openssl that notes each call (given SLOW, first waits a second; given
    // RENAME, puts a copy in the file's place; given CHANGE, appends a byte to
    // the file it was asked to hash), then is the real one.
    await Deno.writeTextFile(
      `${bin}/openssl`,
      `#!/bin/sh\necho call >> '${calls}'\n` +
        `for last; do :; done\n` +
        `[ -e '${dir}/SLOW' ] && sleep 1\n` +
        `[ -e '${dir}/RENAME' ] && cp -p "$last" "$last.new" && mv "$last.new" "$last"\n` +
        `[ -e '${dir}/CHANGE' ] && printf x >> "$last"\n` +
        `exec '${real}' "$@"\n`,
      { mode: 0o755 },
    );
    const bytes = randomBytes(BIG);
    const path = `${dir}/big.bin`;
    await Deno.writeFile(path, bytes);
    const callCount = async () =>
      (await Deno.readTextFile(calls).catch(() => "")).split("\n").length - 1;

    // Small chunks are hashed by a worker in the first pass; big ones here,
    // while openssl runs (all of them, with the slow one) and the rest as
    // the second pass reads them (all of them, without openssl).
    for (const chunkSize of [16384, 524288]) {
      const expected = `${toHex(sha512(bytes))} ${
        toHex(sha512(chunkHashes(bytes, chunkSize)))
      }`;
      const kib = `${chunkSize / 1024} KiB`;
      const before = await callCount();
      await t.step(
        `${kib}: one call to openssl, the right hashes`,
        async () => {
          const run = await planInProcess(path, chunkSize, bin, "stat,openssl");
          strictEqual(run.code, 0, run.text);
          strictEqual(run.text, expected);
          strictEqual(await callCount(), before + 1);
        },
      );
      await t.step(`${kib}: a slow openssl, the same`, async () => {
        await Deno.writeTextFile(`${dir}/SLOW`, "");
        const run = await planInProcess(path, chunkSize, bin, "stat,openssl");
        await Deno.remove(`${dir}/SLOW`);
        strictEqual(run.code, 0, run.text);
        strictEqual(run.text, expected);
        strictEqual(await callCount(), before + 2);
      });
      await t.step(`${kib}: openssl not allowed, the same`, async () => {
        const run = await planInProcess(path, chunkSize, bin, "stat");
        strictEqual(run.code, 0, run.text);
        strictEqual(run.text, expected);
        strictEqual(await callCount(), before + 2);
      });
    }
    await t.step(
      "16 KiB, no worker (its module may not be read): hashed here, no openssl",
      async () => {
        const before = await callCount();
        const run = await planInProcess(path, 16384, bin, "stat,openssl", dir);
        strictEqual(run.code, 0, run.text);
        strictEqual(
          run.text,
          `${toHex(sha512(bytes))} ${toHex(sha512(chunkHashes(bytes, 16384)))}`,
        );
        strictEqual(await callCount(), before);
      },
    );
    await t.step(
      "another file renamed over it while openssl reads it: refused",
      async () => {
        // The same bytes and times under the name, in a new file (inode).
        await Deno.writeTextFile(`${dir}/RENAME`, "");
        for (const chunkSize of [16384, 524288]) {
          const run = await planInProcess(path, chunkSize, bin, "stat,openssl");
          strictEqual(run.code, 1, run.text);
          ok(run.text.includes("changed while hashing"), run.text);
        }
        await Deno.remove(`${dir}/RENAME`);
      },
    );
    await t.step("the file grows while openssl reads it: refused", async () => {
      await Deno.writeTextFile(`${dir}/CHANGE`, "");
      for (const chunkSize of [16384, 524288]) {
        const run = await planInProcess(path, chunkSize, bin, "stat,openssl");
        strictEqual(run.code, 1, run.text);
        ok(run.text.includes("changed while hashing"), run.text);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
