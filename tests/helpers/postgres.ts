/**
 * A throwaway PostgreSQL server for the catalog tests: Debian's `postgresql`
 * binaries (`initdb`, `pg_ctl`), a cluster in a temporary folder, a free port
 * on 127.0.0.1, a random password (scram-sha-256 over TCP), and one fresh
 * database per test. No mock: without the binaries the tests fail.
 *
 * PostgreSQL refuses to run as root, so under root (CI, containers) the
 * cluster belongs to the unprivileged user `nobody` and its commands run
 * through `runuser`.
 *
 * @module
 */
import postgres from "postgres";

/** Where Debian puts the server binaries; `PG_BIN` overrides. */
const PG_BIN = Deno.env.get("PG_BIN") ?? "/usr/lib/postgresql/15/bin";
/** The unprivileged user that runs the server when the tests run as root. */
const UNPRIVILEGED_USER = "nobody";

/** A running test server. */
export interface TestPostgres {
  /** The superuser's password (also in every URL). */
  password: string;
  /** The port on 127.0.0.1. */
  port: number;
  /** A URL to a new, empty database. */
  freshDatabase(): Promise<string>;
  /** Stops the server (fast shutdown: sessions are ended), keeping its data. */
  halt(): Promise<void>;
  /** Starts a halted server again, on the same port. */
  resume(): Promise<void>;
  /** Stops the server and deletes its folder. */
  stop(): Promise<void>;
  /** The same, synchronously (for the end of the test process). */
  stopSync(): void;
}

/** A PostgreSQL binary as a command, run as `nobody` under root. */
function pgCommand(program: string, args: string[]): Deno.Command {
  const command = Deno.uid() === 0
    ? ["runuser", "-u", UNPRIVILEGED_USER, "--", `${PG_BIN}/${program}`]
    : [`${PG_BIN}/${program}`];
  return new Deno.Command(command[0], {
    args: [...command.slice(1), ...args],
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C" },
  });
}

/** Runs a PostgreSQL binary; throws with its output on failure. */
async function runPg(program: string, args: string[]): Promise<void> {
  const output = await pgCommand(program, args).output();
  if (!output.success) {
    const text = new TextDecoder().decode(output.stdout) +
      new TextDecoder().decode(output.stderr);
    throw new Error(`${program} ${args.join(" ")} failed:\n${text}`);
  }
}

/** A port nobody listens on right now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Starts a new server. Call `stop()` when done (in a `finally`).
 *
 * @example
 * ```ts
 * const pg = await startTestPostgres();
 * const url = await pg.freshDatabase();
 * await pg.stop();
 * ```
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const folder = await Deno.makeTempDir({ prefix: "catalog_pg_" });
  if (Deno.uid() === 0) {
    const { uid, gid } = await lookupUser(UNPRIVILEGED_USER);
    await Deno.chown(folder, uid, gid);
  }
  const password = `pw-${crypto.randomUUID()}`;
  const pwfile = `${folder}/pwfile`;
  await Deno.writeTextFile(pwfile, password + "\n", { mode: 0o644 });
  const data = `${folder}/data`;
  await runPg("initdb", [
    "-D",
    data,
    "-U",
    "postgres",
    "--pwfile",
    pwfile,
    "--auth-host=scram-sha-256",
    "--auth-local=trust",
    "-E",
    "UTF8",
  ]);
  await Deno.remove(pwfile);
  const port = freePort();
  const start = () =>
    runPg("pg_ctl", [
      "-D",
      data,
      "-l",
      `${folder}/server.log`,
      "-w",
      "-o",
      `-p ${port} -k ${folder} -c listen_addresses=127.0.0.1 -c fsync=off`,
      "start",
    ]);
  await start();
  let databases = 0;
  return {
    password,
    port,
    async freshDatabase() {
      const name = `test_${++databases}`;
      // A connection per call: none is left open between tests.
      const admin = postgres(
        `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
        { max: 1, onnotice: () => {} },
      );
      try {
        await admin.unsafe(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end({ timeout: 5 });
      }
      return `postgres://postgres:${password}@127.0.0.1:${port}/${name}`;
    },
    halt: () => runPg("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]),
    resume: start,
    async stop() {
      // A server halted by its test is already stopped: nothing to stop.
      await runPg("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]).catch(
        (error) => {
          if (!/PID file .* does not exist/.test(error.message)) throw error;
        },
      );
      await Deno.remove(folder, { recursive: true });
    },
    stopSync() {
      pgCommand("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"])
        .outputSync();
      Deno.removeSync(folder, { recursive: true });
    },
  };
}

let shared: Promise<TestPostgres> | undefined;

/**
 * One server for all the tests of a test process, started on first use and
 * stopped when the process ends (each test takes its own fresh database).
 *
 * @example
 * ```ts
 * const url = await (await sharedTestPostgres()).freshDatabase();
 * ```
 */
export function sharedTestPostgres(): Promise<TestPostgres> {
  shared ??= startTestPostgres().then((pg) => {
    globalThis.addEventListener("unload", () => pg.stopSync());
    return pg;
  });
  return shared;
}

/** The uid and gid of a user, from /etc/passwd. */
async function lookupUser(name: string): Promise<{ uid: number; gid: number }> {
  const line = (await Deno.readTextFile("/etc/passwd")).split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name} to run PostgreSQL as`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}
