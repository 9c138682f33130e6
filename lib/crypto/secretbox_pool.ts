/**
 * Secretbox sealing on a second core: a worker (secretbox_worker.ts) that
 * seals message bodies while the calling thread goes on, as
 * `crypto_secretbox_easy` would in place. Where the worker may not start
 * (no read permission on its module), it seals in this thread.
 *
 * @example
 * ```ts
 * import { SecretboxWorker } from "./secretbox_pool.ts";
 *
 * const worker = new SecretboxWorker();
 * const box = await worker.seal(new Uint8Array(10), new Uint8Array(24), new Uint8Array(32));
 * box.length; // 26 (16-byte tag, then the ciphertext)
 * worker.close();
 * ```
 *
 * @module
 */
import { loadSodium } from "./sodium.ts";

/** The worker's module (it needs read permission to start). */
const WORKER_MODULE = new URL("./secretbox_worker.ts", import.meta.url);

/** What the worker answers. */
interface SealReply {
  id: number;
  box?: Uint8Array;
  error?: string;
}

/** Seals secretboxes in a worker, in the order asked. */
export class SecretboxWorker {
  #worker?: Worker;
  #next = 0;
  readonly #waiting = new Map<
    number,
    { resolve: (box: Uint8Array) => void; reject: (error: Error) => void }
  >();

  /**
   * `crypto_secretbox_easy(plaintext, nonce, key)`, done by the worker
   * (`plaintext` is copied: the caller may reuse it once this resolves).
   *
   * @example
   * ```ts
   * declare const worker: SecretboxWorker;
   * await worker.seal(new Uint8Array(3), new Uint8Array(24), new Uint8Array(32));
   * ```
   */
  async seal(
    plaintext: Uint8Array,
    nonce: Uint8Array,
    key: Uint8Array,
  ): Promise<Uint8Array> {
    const worker = this.#start();
    if (!worker) {
      return (await loadSodium()).crypto_secretbox_easy(plaintext, nonce, key);
    }
    const id = this.#next++;
    const sealed = new Promise<Uint8Array>((resolve, reject) =>
      this.#waiting.set(id, { resolve, reject })
    );
    worker.postMessage({ id, plaintext, nonce, key });
    return await sealed;
  }

  /**
   * Ends the worker; seals still waiting fail.
   *
   * @example
   * ```ts
   * declare const worker: SecretboxWorker;
   * worker.close();
   * ```
   */
  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    for (const { reject } of this.#waiting.values()) {
      reject(new Error("the secretbox worker was closed"));
    }
    this.#waiting.clear();
  }

  /** The worker, started on first use; undefined where it may not start. */
  #start(): Worker | undefined {
    if (this.#worker) return this.#worker;
    const mayRead = WORKER_MODULE.protocol !== "file:" ||
      Deno.permissions.querySync({ name: "read", path: WORKER_MODULE })
          .state === "granted";
    if (!mayRead) return undefined;
    const worker = new Worker(WORKER_MODULE.href, { type: "module" });
    worker.onmessage = (event: MessageEvent<SealReply>) => {
      const { id, box, error } = event.data;
      const waiting = this.#waiting.get(id);
      this.#waiting.delete(id);
      if (box) waiting?.resolve(box);
      else waiting?.reject(new Error(`secretbox failed: ${error}`));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      for (const { reject } of this.#waiting.values()) {
        reject(new Error(`the secretbox worker failed: ${event.message}`));
      }
      this.#waiting.clear();
    };
    this.#worker = worker;
    return worker;
  }
}
