/**
 * A big file's whole SHA-512 by the `openssl` program (openssl_sha512.ts):
 * the same 64 bytes as node:crypto's, whatever the file is called; nothing
 * (so the upload hashes the file itself) when the program is missing, fails
 * or answers something else. An upload's first pass asks it once for a big
 * file and gets the same hash without it (not allowed to run); a file that
 * changes while openssl reads it is refused, not sent with a stale hash.
 */
import { ok, strictEqual } from "node:assert/strict";
import { opensslSha512 } from "../lib/common/openssl_sha512.ts";
import { sha512, toHex } from "../lib/transfer/chunk.ts";
import { randomBytes } from "./helpers/chunk_messages.ts";

/** 16 MiB and a bit: big enough to be hashed on the side. */
const BIG = 16 * 1024 * 1024 + 12345;

/** Runs tests/helpers/plan_hash_of.ts on `path` with `openssl` found in `bin`. */
async function planInProcess(
  path: string,
  bin: string,
  allowRun: string,
): Promise<{ code: number; text: string }> {
  const run = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write=out",
      allowRun,
      new URL("./helpers/plan_hash_of.ts", import.meta.url).pathname,
      path,
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
      const hash = await opensslSha512(path);
      ok(hash, "openssl gave no hash");
      strictEqual(toHex(hash), toHex(sha512(bytes)));
    });
    await t.step("nothing for a file it cannot read", async () => {
      strictEqual(await opensslSha512(`${dir}/missing.bin`), undefined);
    });
    await t.step(
      "nothing without the program, or from another one",
      async () => {
        strictEqual(
          await opensslSha512(path, `${dir}/no-such-openssl`),
          undefined,
        );
        // echo prints its arguments: not 64 bytes of hash.
        strictEqual(await opensslSha512(path, "echo"), undefined);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("planChunks hashes a big file by openssl once, the same without it, and refuses a file changed meanwhile", async (t) => {
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
    // An openssl that notes each call (and, given CHANGE, appends a byte to
    // the file it was asked to hash first), then is the real one.
    await Deno.writeTextFile(
      `${bin}/openssl`,
      `#!/bin/sh\necho call >> '${calls}'\n` +
        `for last; do :; done\n` +
        `[ -e '${dir}/CHANGE' ] && printf x >> "$last"\n` +
        `exec '${real}' "$@"\n`,
      { mode: 0o755 },
    );
    const bytes = randomBytes(BIG);
    const path = `${dir}/big.bin`;
    await Deno.writeFile(path, bytes);
    const expected = toHex(sha512(bytes));
    const callCount = async () =>
      (await Deno.readTextFile(calls).catch(() => "")).split("\n").length - 1;

    await t.step("with openssl: one call, the right hash", async () => {
      const run = await planInProcess(path, bin, "--allow-run=stat,openssl");
      strictEqual(run.code, 0, run.text);
      strictEqual(run.text, expected);
      strictEqual(await callCount(), 1);
    });
    await t.step("openssl not allowed: hashed here, the same", async () => {
      const run = await planInProcess(path, bin, "--allow-run=stat");
      strictEqual(run.code, 0, run.text);
      strictEqual(run.text, expected);
      strictEqual(await callCount(), 1);
    });
    await t.step("the file grows while openssl reads it: refused", async () => {
      await Deno.writeTextFile(`${dir}/CHANGE`, "");
      const run = await planInProcess(path, bin, "--allow-run=stat,openssl");
      strictEqual(run.code, 1);
      ok(run.text.includes("changed while hashing"), run.text);
      strictEqual(await callCount(), 2);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
