/**
 * The Kafka broker's jars, from Maven Central or a `KAFKA_HOME` tarball, as a
 * Java classpath; and running Kafka's Java tools with it.
 *
 * @example
 * ```ts
 * import { resolveClasspath, runJava } from "./maven_classpath.ts";
 *
 * const classpath = await resolveClasspath(console.log);
 * console.log(await runJava(classpath, ["kafka.tools.StorageTool", "random-uuid"]));
 * ```
 *
 * @module
 */
import { UserError } from "../common/cli.ts";
import { runInstalled } from "../common/processes.ts";

/** Where the pom lives, relative to the project root. */
const POM_PATH = "config/kafka_local/pom.xml";
/** Where the classpath cache and broker folders go, relative to the project root. */
export const STATE_ROOT = ".kafka";

/**
 * The broker's classpath: `$KAFKA_HOME/libs/*` when set, else the jars Maven
 * resolved from the pom (cached in `.kafka/classpath.txt`).
 *
 * @example
 * ```ts
 * const classpath = await resolveClasspath(console.log);
 * ```
 */
export async function resolveClasspath(
  onProgress: (line: string) => void = () => {},
): Promise<string> {
  const kafkaHome = Deno.env.get("KAFKA_HOME");
  if (kafkaHome) return `${kafkaHome}/libs/*`;
  const cacheFile = `${STATE_ROOT}/classpath.txt`;
  const pomTime = (await Deno.stat(POM_PATH)).mtime?.getTime() ?? 0;
  try {
    const cached = await Deno.stat(cacheFile);
    if ((cached.mtime?.getTime() ?? 0) >= pomTime) {
      return (await Deno.readTextFile(cacheFile)).trim();
    }
  } catch {
    // No cache yet.
  }
  await requireCommand("mvn", "--version");
  onProgress("Fetching the Kafka jars from Maven Central (first run only) ...");
  await Deno.mkdir(STATE_ROOT, { recursive: true });
  const result = await new Deno.Command("mvn", {
    args: [
      "-q",
      "-B",
      "-f",
      POM_PATH,
      "dependency:build-classpath",
      `-Dmdep.outputFile=${await Deno.realPath(STATE_ROOT)}/classpath.txt`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    const output = new TextDecoder().decode(result.stdout).trim().split("\n");
    throw new UserError(
      `Maven could not fetch the Kafka jars: ${output.slice(-3).join(" ")}`,
    );
  }
  return (await Deno.readTextFile(cacheFile)).trim();
}

/**
 * Throws a one-line install hint ({@linkcode UserError}) when a command is missing.
 *
 * @example
 * ```ts
 * await requireCommand("java", "-version");
 * ```
 */
export async function requireCommand(
  name: string,
  versionFlag: string,
): Promise<void> {
  await runInstalled(
    name,
    { args: [versionFlag], stdout: "null", stderr: "null" },
    "install Java 17 and Maven (Debian: apt-get install openjdk-17-jre-headless maven), " +
      "or run Kafka in Docker instead: docker run -d -p 9092:9092 apache/kafka:4.1.2",
  );
}

/**
 * Runs a Kafka Java tool and returns its stdout; a failure is a
 * {@linkcode UserError} with its last stderr line.
 *
 * @example
 * ```ts
 * const classpath = await resolveClasspath();
 * const id = await runJava(classpath, ["kafka.tools.StorageTool", "random-uuid"]);
 * ```
 */
export async function runJava(
  classpath: string,
  args: string[],
): Promise<string> {
  const result = await new Deno.Command("java", {
    args: ["-cp", classpath, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(result.stdout);
  if (!result.success) {
    const stderr = new TextDecoder().decode(result.stderr).trim();
    throw new UserError(`${args[0]} failed: ${stderr.split("\n").at(-1)}`);
  }
  return stdout;
}
