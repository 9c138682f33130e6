/**
 * Modification times to the microsecond for many files at once: an upload
 * of a folder of small files asks for each file's time while others are
 * asked for, and they share `stat` processes instead of one each (one
 * process per file held 10,000 small files to 250 files/s). A `stat` on
 * PATH that notes each call and runs GNU stat counts the processes.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";

const FILES = 300;

/** GNU touch: the file's time to the nanosecond (`@seconds.fraction`). */
function touch(path: string, seconds: string): void {
  const done = new Deno.Command("touch", {
    args: ["-m", "-d", `@${seconds}`, path],
  }).outputSync();
  strictEqual(done.code, 0, new TextDecoder().decode(done.stderr));
}

Deno.test("mtimeSeconds: 300 files asked for at once get each its own microsecond from a few stat processes; a file gone gets Deno's milliseconds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mtimes_" });
  try {
    const folder = `${dir}/files`;
    const bin = `${dir}/bin`;
    await Deno.mkdir(folder);
    await Deno.mkdir(bin);
    // A stat that notes each call, then is GNU's.
    const calls = `${dir}/calls.txt`;
    await Deno.writeTextFile(
      `${bin}/stat`,
      `#!/bin/sh\necho call >> '${calls}'\nexec /usr/bin/stat "$@"\n`,
      { mode: 0o755 },
    );
    const expected: Record<string, number> = {};
    for (let i = 0; i < FILES; i++) {
      // Names a shell or a line-based parser would trip on, too.
      const name = i % 3 === 0 ? `-odd ${i}\nname.bin` : `f${i}.bin`;
      await Deno.writeTextFile(`${folder}/${name}`, "x");
      const micros = String(100000 + i).padStart(6, "0");
      touch(`${folder}/${name}`, `1700000000.${micros}`);
      expected[name] = 1700000000 + (100000 + i) / 1e6;
    }
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--allow-read=${dir}`,
        "--allow-run=stat",
        new URL("./helpers/mtimes_of.ts", import.meta.url).pathname,
        folder,
      ],
      env: { PATH: `${bin}:${Deno.env.get("PATH")}` },
    }).output();
    strictEqual(run.code, 0, new TextDecoder().decode(run.stderr));
    const got: Record<string, number> = JSON.parse(
      new TextDecoder().decode(run.stdout),
    );
    strictEqual(got["gone.bin"], 1234.567);
    delete got["gone.bin"];
    // Each file its own time, to the microsecond.
    deepStrictEqual(
      Object.fromEntries(
        Object.entries(got).map(([name, s]) => [name, Math.round(s * 1e6)]),
      ),
      Object.fromEntries(
        Object.entries(expected).map((
          [name, s],
        ) => [name, Math.round(s * 1e6)]),
      ),
    );
    const processes = (await Deno.readTextFile(calls)).trim().split("\n");
    ok(
      processes.length <= 4,
      `${processes.length} stat processes for ${FILES + 1} files`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
