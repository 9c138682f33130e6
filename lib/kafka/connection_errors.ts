/**
 * Why a connection to Kafka failed, in one line a user can act on.
 *
 * The client library reports a refused port, an untrusted certificate, a TLS
 * client at a plaintext port (and the reverse), a wrong password and SASL
 * against a broker without SASL as different errors, nested inside "cannot
 * connect to any broker" or "retries exceeded" errors: @platformatic/kafka
 * wraps the real cause in `.cause` and `.errors` (an `AggregateError`). This
 * module looks through the wrapping and names the
 * setting to check. It never puts a password in a message; the user name is
 * shown, as any login prompt would.
 *
 * @example
 * ```ts
 * import { explainConnectionError } from "./connection_errors.ts";
 * import { parseKafkaConfig } from "./config.ts";
 *
 * const settings = parseKafkaConfig("[cluster]\nbootstrap.servers = h:9092\n", "x", () => undefined);
 * const error = Object.assign(new Error("Broker requires TLS."), { code: "PLT_KFK_USER" });
 * explainConnectionError(error, settings);
 * // "h:9092 closed the connection (Broker requires TLS.); it may expect TLS or SASL: ..."
 * ```
 *
 * @module
 */
import { describeError } from "../common/cli.ts";

/** What a message needs from the settings (a `KafkaSettings` has it all). */
export interface ConnectionSettings {
  /** Where the settings came from (a config path), to name in the message. */
  source: string;
  /** The client options: the brokers, whether TLS is on, the SASL login. */
  client: {
    /** `host:port` of each bootstrap server. */
    brokers?: unknown;
    /** Set when TLS is on. */
    ssl?: unknown;
    /** The SASL login, if any. */
    sasl?: { mechanism: string; username?: string };
  };
}

/** @platformatic/kafka's codes that mean "could not get through to a broker". */
const UNREACHABLE = new Set([
  "PLT_KFK_NETWORK",
  "PLT_KFK_TIMEOUT",
]);
/** Names of a closed connection: what a TLS listener does to a plaintext client. */
const CLOSED = new Set(["ECONNRESET", "EPIPE"]);
/** What Node's TLS layer says about a certificate it does not trust. */
const UNTRUSTED_CERTIFICATE =
  /certificate|self[- ]signed|unable to verify|CERT_|altnames/i;
/** What @platformatic/kafka says when a TLS listener answers a plaintext client. */
const TLS_REQUIRED = /requires TLS/i;
/** Kafka's answers to a SASL handshake it did not expect. */
const SASL_REFUSED = new Set([
  "ILLEGAL_SASL_STATE",
  "UNSUPPORTED_SASL_MECHANISM",
]);
/** Kafka's answer to a wrong user name or password. */
const SASL_FAILED = "SASL_AUTHENTICATION_FAILED";

/** An error with the fields the library may set. */
type LibraryError = Error & {
  /** @platformatic/kafka's `PLT_KFK_*` code, or Node's `E*` code. */
  code?: unknown;
  /** @platformatic/kafka: the Kafka error name of a protocol error. */
  apiId?: unknown;
  /** `AggregateError` (@platformatic/kafka's `MultipleErrors`): the errors it joins. */
  errors?: unknown;
};

/**
 * The error and every error it wraps (`cause`, `errors`),
 * depth first, each with its depth; at most 50, so a cycle cannot hang it.
 */
function errorTree(error: unknown): { error: LibraryError; depth: number }[] {
  const found: { error: LibraryError; depth: number }[] = [];
  const visit = (current: unknown, depth: number) => {
    if (!(current instanceof Error) || found.length >= 50) return;
    if (found.some((f) => f.error === current)) return;
    const wrapped = current as LibraryError;
    found.push({ error: wrapped, depth });
    if (Array.isArray(wrapped.errors)) {
      for (const inner of wrapped.errors) visit(inner, depth + 1);
    }
    visit(wrapped.cause, depth + 1);
  };
  visit(error, 0);
  return found;
}

/** The Kafka error name a protocol error carries, if any. */
function kafkaErrorName(error: LibraryError): string | undefined {
  const name = error.apiId;
  return typeof name === "string" ? name : undefined;
}

/**
 * Whether trying again cannot help: `error` or an error it wraps says so
 * (@platformatic/kafka's `canRetry: false`: a wrong password, a TLS
 * mismatch). The library itself looks only at the outer errors and would try
 * a wrong password again, and a broker counts each try as a failed login.
 *
 * @example
 * ```ts
 * import { isPermanent } from "./connection_errors.ts";
 *
 * const login = Object.assign(new Error("SASL authentication failed."), { canRetry: false });
 * isPermanent(new Error("Connection failed.", { cause: login })); // true
 * ```
 */
export function isPermanent(error: unknown): boolean {
  return errorTree(error).some(({ error }) =>
    (error as { canRetry?: unknown }).canRetry === false
  );
}

/**
 * One line that says why connecting or logging in failed, or `undefined` when
 * `error` is something else (a bug, which should keep its stack).
 *
 * @example
 * ```ts
 * import { UserError } from "../common/cli.ts";
 * import { explainConnectionError } from "./connection_errors.ts";
 *
 * const settings = { source: "local", client: { brokers: ["127.0.0.1:9092"] } };
 * try {
 *   throw Object.assign(new Error("Connection to 127.0.0.1:9092 failed."), { code: "PLT_KFK_NETWORK" });
 * } catch (error) {
 *   const why = explainConnectionError(error, settings);
 *   if (why) throw new UserError(why);
 *   throw error;
 * }
 * ```
 */
export function explainConnectionError(
  error: unknown,
  settings: ConnectionSettings,
): string | undefined {
  const tree = errorTree(error);
  if (tree.length === 0) return undefined;
  const errors = tree.map((f) => f.error);
  const brokers = Array.isArray(settings.client.brokers)
    ? settings.client.brokers.join(",")
    : "the brokers";
  const source = settings.source;
  const sasl = settings.client.sasl;
  const tls = Boolean(settings.client.ssl);
  const names = new Set(errors.flatMap((e) => [e.name, String(e.code)]));
  const kafkaErrors = new Set(errors.map(kafkaErrorName));
  // The innermost error says what really happened (a refused port, a
  // certificate); the first one that deep, as wrappers come first.
  const deepest = tree.reduce((a, b) => b.depth > a.depth ? b : a).error;
  const reason = describeError(deepest);

  if (
    names.has("KafkaJSSASLAuthenticationError") || kafkaErrors.has(SASL_FAILED)
  ) {
    const user = sasl?.username ?? "?";
    const mechanism = sasl?.mechanism.toUpperCase() ?? "SASL";
    return `authentication failed for user ${user} at ${brokers} (${mechanism}): check sasl.username and sasl.password in ${source}`;
  }
  const refused = [...kafkaErrors].find((name) => SASL_REFUSED.has(name ?? ""));
  if (refused) {
    return `${brokers} refused the SASL login (${refused}): that listener may not use SASL; check security.protocol in ${source}`;
  }
  const tlsRequired = errors.find((e) => TLS_REQUIRED.test(e.message));
  if (!tls && tlsRequired) {
    return `${brokers} closed the connection (${
      describeError(tlsRequired)
    }); it may expect TLS or SASL: check security.protocol in ${source}`;
  }
  if (![...names].some((name) => UNREACHABLE.has(name))) return undefined;
  if (tls && UNTRUSTED_CERTIFICATE.test(reason)) {
    return `TLS: the certificate of ${brokers} is not trusted (${reason}); check ssl.ca.location in ${source}`;
  }
  if (tls && /TLS|SSL|secure/i.test(reason)) {
    return `TLS: no secure connection to ${brokers} (${reason}); is it a TLS listener? Check security.protocol in ${source}`;
  }
  if (!tls && [...names].some((name) => CLOSED.has(name))) {
    return `${brokers} closed the connection (${reason}); it may expect TLS or SASL: check security.protocol in ${source}`;
  }
  return `cannot reach Kafka at ${brokers} (${reason}); is it running? Try: deno task kafka start`;
}
