/**
 * What a local broker needs to speak SASL_SSL with SCRAM-SHA-512, made with
 * the JDK alone: a self-signed certificate authority and a broker keystore
 * (by `keytool`, no openssl), a SCRAM user for the lab tools, a SCRAM user
 * for the brokers among themselves, and the client config that reaches them.
 *
 * Secrets stay in files of mode 600 under `.kafka/PORT/`: `secrets.json`
 * (keystore and broker-user passwords) and, when the user's password was
 * generated, `credentials`. Passwords never go on a command line: keytool
 * reads them from the environment and the storage tool gets the SCRAM user as
 * a salted password.
 *
 * @example
 * ```ts
 * import { ensureTlsFiles, loadOrCreateSecrets } from "./local_security.ts";
 *
 * const secrets = await loadOrCreateSecrets(".kafka/19492");
 * const tls = await ensureTlsFiles(".kafka/19492", secrets);
 * console.log(tls.caFile); // .kafka/19492/tls/ca.pem
 * ```
 *
 * @module
 */
import { UserError } from "../common/cli.ts";
import { runInstalled } from "../common/processes.ts";

/** The SCRAM user the brokers use to talk to each other. */
export const BROKER_USER = "kafka-local-broker";
/** Bytes as standard base64 (what the storage tool expects). */
function encodeBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** PBKDF2 rounds for the SCRAM credentials (Kafka's minimum is 4096). */
const SCRAM_ITERATIONS = 8192;
/** A user name the SCRAM format and the storage tool's parser both accept. */
const SAFE_USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

/** Passwords only the local brokers need, kept in `secrets.json`. */
export interface LocalSecrets {
  /** The password of the broker keystore and of the CA keystore. */
  keystorePassword: string;
  /** The password of {@linkcode BROKER_USER}. */
  brokerPassword: string;
}

/** Where the TLS files are. */
export interface TlsFiles {
  /** The broker's key and certificate, and the CA as trusted entry (PKCS12). */
  keystore: string;
  /** The CA certificate in PEM, for `ssl.ca.location`. */
  caFile: string;
}

/** The SCRAM user of the lab tools. */
export interface UserCredentials {
  /** `$KAFKA_USERNAME`, or a generated name. */
  username: string;
  /** `$KAFKA_PASSWORD`, or a generated password. */
  password: string;
  /** True when they were generated (and written to `credentials`). */
  generated: boolean;
}

/**
 * A random string of `bytes` random bytes, URL-safe and without padding.
 *
 * @example
 * ```ts
 * randomSecret(18).length; // 24
 * ```
 */
export function randomSecret(bytes = 24): string {
  const random = crypto.getRandomValues(new Uint8Array(bytes));
  return encodeBase64(random).replaceAll("+", "-").replaceAll("/", "_")
    .replaceAll("=", "");
}

/** Writes a file only its owner may read. */
async function writePrivateFile(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  // `mode` applies only when the file is created; make sure of it anyway.
  await Deno.chmod(path, 0o600);
}

/**
 * The brokers' own secrets for the cluster in `dir`, created on first use.
 *
 * @example
 * ```ts
 * const secrets = await loadOrCreateSecrets(".kafka/19492");
 * ```
 */
export async function loadOrCreateSecrets(dir: string): Promise<LocalSecrets> {
  const path = `${dir}/secrets.json`;
  try {
    return JSON.parse(await Deno.readTextFile(path)) as LocalSecrets;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const secrets: LocalSecrets = {
    keystorePassword: randomSecret(),
    brokerPassword: randomSecret(),
  };
  await writePrivateFile(path, JSON.stringify(secrets) + "\n");
  return secrets;
}

/** Runs keytool with the keystore password in `$KEYSTORE_PASSWORD`. */
async function keytool(args: string[], password: string): Promise<void> {
  const result = await runInstalled(
    "keytool",
    {
      args,
      env: { KEYSTORE_PASSWORD: password },
      stdout: "piped",
      stderr: "piped",
    },
    "it comes with Java 17 (Debian: apt-get install openjdk-17-jre-headless)",
  );
  if (!result.success) {
    const text = new TextDecoder().decode(result.stdout) +
      new TextDecoder().decode(result.stderr);
    throw new UserError(
      `keytool ${args[0]} failed: ${text.trim().split("\n").at(-1)}`,
    );
  }
}

/**
 * Makes a self-signed certificate authority in `dir`: `ca.p12` (its key,
 * protected by `password`) and `ca.pem` (its certificate). Returns the PEM path.
 *
 * @example
 * ```ts
 * const pem = await createCertificateAuthority("out/other-ca", "secret", "Another CA");
 * ```
 */
export async function createCertificateAuthority(
  dir: string,
  password: string,
  name = "kafka-local CA",
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const store = ["-keystore", `${dir}/ca.p12`, "-storetype", "PKCS12"];
  const pass = ["-storepass:env", "KEYSTORE_PASSWORD"];
  await keytool([
    "-genkeypair",
    "-alias",
    "ca",
    "-keyalg",
    "RSA",
    "-keysize",
    "2048",
    "-dname",
    `CN=${name}`,
    "-ext",
    "bc:c",
    "-validity",
    "3650",
    ...store,
    ...pass,
  ], password);
  await keytool(
    ["-exportcert", "-alias", "ca", "-rfc", "-file", `${dir}/ca.pem`]
      .concat(store, pass),
    password,
  );
  return `${dir}/ca.pem`;
}

/**
 * The CA and the broker keystore in `dir/tls/`, made once with keytool. The
 * broker certificate is for 127.0.0.1 and localhost; every node uses it.
 *
 * @example
 * ```ts
 * const secrets = await loadOrCreateSecrets(".kafka/19492");
 * const { keystore, caFile } = await ensureTlsFiles(".kafka/19492", secrets);
 * ```
 */
export async function ensureTlsFiles(
  dir: string,
  secrets: LocalSecrets,
  onProgress: (line: string) => void = () => {},
): Promise<TlsFiles> {
  const tlsDir = `${dir}/tls`;
  const files = {
    keystore: `${tlsDir}/broker.p12`,
    caFile: `${tlsDir}/ca.pem`,
  };
  if (await Deno.stat(files.keystore).then(() => true, () => false)) {
    return files;
  }
  onProgress(
    `Making a CA and a broker certificate with keytool in ${tlsDir} ...`,
  );
  const password = secrets.keystorePassword;
  await createCertificateAuthority(tlsDir, password);
  const broker = [
    "-keystore",
    `${tlsDir}/broker.tmp.p12`,
    "-storetype",
    "PKCS12",
  ];
  const ca = ["-keystore", `${tlsDir}/ca.p12`, "-storetype", "PKCS12"];
  const pass = ["-storepass:env", "KEYSTORE_PASSWORD"];
  const san = ["-ext", "SAN=ip:127.0.0.1,dns:localhost"];
  await keytool([
    "-genkeypair",
    "-alias",
    "broker",
    "-keyalg",
    "RSA",
    "-keysize",
    "2048",
    "-dname",
    "CN=localhost",
    "-validity",
    "3650",
    ...san,
    ...broker,
    ...pass,
  ], password);
  await keytool(
    ["-certreq", "-alias", "broker", "-file", `${tlsDir}/broker.csr`].concat(
      broker,
      pass,
    ),
    password,
  );
  await keytool([
    "-gencert",
    "-alias",
    "ca",
    "-infile",
    `${tlsDir}/broker.csr`,
    "-outfile",
    `${tlsDir}/broker.pem`,
    "-rfc",
    "-validity",
    "3650",
    ...san,
    ...ca,
    ...pass,
  ], password);
  // The chain goes in as the CA first, then the CA-signed certificate.
  await keytool(
    ["-importcert", "-noprompt", "-alias", "ca", "-file", files.caFile].concat(
      broker,
      pass,
    ),
    password,
  );
  await keytool(
    [
      "-importcert",
      "-noprompt",
      "-alias",
      "broker",
      "-file",
      `${tlsDir}/broker.pem`,
    ]
      .concat(broker, pass),
    password,
  );
  // Renamed last, so an interrupted run starts over instead of using half a keystore.
  await Deno.rename(`${tlsDir}/broker.tmp.p12`, files.keystore);
  return files;
}

/**
 * The lab tools' SCRAM user: `$KAFKA_USERNAME` / `$KAFKA_PASSWORD` when both
 * are set, else a generated pair written to `dir/credentials` (mode 600).
 *
 * @example
 * ```ts
 * const user = await chooseUserCredentials(".kafka/19492", (n) => Deno.env.get(n));
 * ```
 */
export async function chooseUserCredentials(
  dir: string,
  getEnv: (name: string) => string | undefined,
): Promise<UserCredentials> {
  const username = getEnv("KAFKA_USERNAME");
  const password = getEnv("KAFKA_PASSWORD");
  if (username && password) {
    if (!SAFE_USER_NAME.test(username)) {
      throw new UserError(
        "KAFKA_USERNAME may only hold letters, digits and . _ @ - (at most 64)",
      );
    }
    return { username, password, generated: false };
  }
  if (username || password) {
    throw new UserError(
      "set both KAFKA_USERNAME and KAFKA_PASSWORD, or neither (then they are generated)",
    );
  }
  const generated = {
    username: `lab-${randomSecret(4).toLowerCase().replace(/[^a-z0-9]/g, "x")}`,
    password: randomSecret(),
    generated: true,
  };
  await writePrivateFile(
    credentialsPath(dir),
    [
      "# The SCRAM user of the local secure Kafka (generated; keep this file private).",
      `# Load it into a shell with:  set -a; . ${dir}/credentials; set +a`,
      `KAFKA_USERNAME=${generated.username}`,
      `KAFKA_PASSWORD=${generated.password}`,
      "",
    ].join("\n"),
  );
  return generated;
}

/**
 * Where generated user credentials are kept.
 *
 * @example
 * ```ts
 * credentialsPath(".kafka/19492"); // ".kafka/19492/credentials"
 * ```
 */
export function credentialsPath(dir: string): string {
  return `${dir}/credentials`;
}

/**
 * The storage tool's `--add-scram` value for a SCRAM-SHA-512 user, with a
 * salted password (RFC 5802 `Hi()`), so the password itself is never passed.
 *
 * @example
 * ```ts
 * const arg = await scramArgument("alice", "secret");
 * // SCRAM-SHA-512=[name=alice,iterations=8192,salt="...",saltedpassword="..."]
 * ```
 */
export async function scramArgument(
  username: string,
  password: string,
): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(24));
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const salted = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-512", salt, iterations: SCRAM_ITERATIONS },
    key,
    512,
  );
  return `SCRAM-SHA-512=[name=${username},iterations=${SCRAM_ITERATIONS},salt="${
    encodeBase64(salt)
  }",saltedpassword="${encodeBase64(new Uint8Array(salted))}"]`;
}

/**
 * The JAAS line a broker uses to log in to the other brokers.
 *
 * @example
 * ```ts
 * jaasLine("kafka-local-broker", "pw");
 * ```
 */
export function jaasLine(username: string, password: string): string {
  return `org.apache.kafka.common.security.scram.ScramLoginModule required username="${username}" password="${password}";`;
}

/**
 * The text of `client.config` for the lab tools: the secure brokers, the CA,
 * and the user from `$KAFKA_USERNAME` / `$KAFKA_PASSWORD`.
 *
 * @example
 * ```ts
 * clientConfigText("127.0.0.1:19492", "/abs/.kafka/19492/tls/ca.pem");
 * ```
 */
export function clientConfigText(bootstrap: string, caFile: string): string {
  return [
    "# Written by `deno task kafka start --secure`: the local SASL_SSL brokers.",
    "# The user comes from the environment (see the credentials file or your",
    "# own KAFKA_USERNAME / KAFKA_PASSWORD given at the first start).",
    "",
    "[cluster]",
    `bootstrap.servers = ${bootstrap}`,
    "security.protocol = SASL_SSL",
    "sasl.mechanism = SCRAM-SHA-512",
    "sasl.username = $KAFKA_USERNAME",
    "sasl.password = $KAFKA_PASSWORD",
    `ssl.ca.location = ${caFile}`,
    "",
    "[producer]",
    "acks = all",
    "",
    "[consumer]",
    "group.id = new",
    "auto.offset.reset = earliest",
    "",
  ].join("\n");
}
