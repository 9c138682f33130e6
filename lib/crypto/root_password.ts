/**
 * The root of trust's password, from `$KAFKACRYPTO_ROOT_PASSWORD` or typed
 * at a prompt (not echoed); never from the command line, where other users
 * of the machine could read it in the process list.
 *
 * @example
 * ```ts
 * import { readRootPassword } from "./root_password.ts";
 *
 * Deno.env.set("KAFKACRYPTO_ROOT_PASSWORD", "a long root password");
 * await readRootPassword(); // "a long root password"
 * ```
 *
 * @module
 */

/** The environment variable that may hold the password. */
export const ROOT_PASSWORD_VARIABLE = "KAFKACRYPTO_ROOT_PASSWORD";

/**
 * The password: the variable if set, else one line typed on the terminal
 * (echo off), else one line read from standard input.
 *
 * @example
 * ```ts
 * const password = await readRootPassword("Root of trust password: ");
 * password.length > 0; // true
 * ```
 */
export async function readRootPassword(
  promptText = "Root of trust password: ",
): Promise<string> {
  const fromEnvironment = Deno.env.get(ROOT_PASSWORD_VARIABLE);
  if (fromEnvironment !== undefined && fromEnvironment !== "") {
    return fromEnvironment;
  }
  const terminal = Deno.stdin.isTerminal();
  if (terminal) {
    await Deno.stderr.write(new TextEncoder().encode(promptText));
    Deno.stdin.setRaw(true);
  }
  try {
    return await readLine(terminal);
  } finally {
    if (terminal) {
      Deno.stdin.setRaw(false);
      await Deno.stderr.write(new TextEncoder().encode("\n"));
    }
  }
}

/** One line from standard input (Ctrl-C on a raw terminal stops the program). */
async function readLine(terminal: boolean): Promise<string> {
  const bytes: number[] = [];
  const buffer = new Uint8Array(1);
  while (true) {
    const count = await Deno.stdin.read(buffer);
    if (count === null) break;
    const byte = buffer[0];
    if (byte === 0x0a || byte === 0x0d) break;
    if (terminal && byte === 0x03) {
      Deno.stdin.setRaw(false);
      Deno.exit(130);
    }
    if (terminal && (byte === 0x7f || byte === 0x08)) {
      bytes.pop();
      continue;
    }
    bytes.push(byte);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
