/**
 * The Worker a stream processor runs in (started by processor_runner.ts).
 *
 * It imports the processor module, runs its `setup`, then one `processFile`
 * per message, and answers each with one message. A processor that hangs
 * cannot be cancelled from inside JavaScript; running it here lets the
 * runner end the whole Worker after `--processor_timeout` and start a fresh
 * one. Messages in: `load`, `file`, `close`; out: `ready`, `done`, `failed`.
 *
 * @example
 * ```ts
 * const worker = new Worker(
 *   new URL("./processor_worker.ts", import.meta.url),
 *   { type: "module" },
 * );
 * worker.postMessage({ kind: "load", url: "file:///tmp/p.ts", context: { options: {}, config: "local" } });
 * ```
 *
 * @module
 */
import type {
  DataFile,
  ProcessorContext,
  ProcessorModule,
} from "./processor_api.ts";

/** A message to the Worker. */
export type ToWorker =
  | { kind: "load"; url: string; context: ProcessorContext }
  | { kind: "file"; file: DataFile }
  | { kind: "close" };

/** A message from the Worker. */
export type FromWorker =
  | { kind: "ready" }
  | { kind: "done" }
  /** `thrown`: the processor threw (the Worker is fine), rather than crashed or hung. */
  | { kind: "failed"; reason: string; thrown?: boolean };

/** What a thrown value says, in one line. */
function oneLine(error: unknown): string {
  const text = error instanceof Error
    ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}`
    : String(error);
  return text.replace(/\s*\n\s*/g, " ").slice(0, 500);
}

/** Imports the module and checks that it exports processFile. */
async function load(url: string): Promise<ProcessorModule> {
  const module = await import(url) as Partial<ProcessorModule>;
  if (typeof module.processFile !== "function") {
    throw new Error("it does not export a function processFile(file)");
  }
  return module as ProcessorModule;
}

// Only when started as a Worker (`self` is then its global scope).
if ("WorkerGlobalScope" in globalThis) {
  const scope = self as unknown as {
    onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
    postMessage(message: FromWorker): void;
    close(): void;
  };
  let processor: ProcessorModule | undefined;
  let context: ProcessorContext | undefined;
  const answer = async (work: () => unknown, ok: FromWorker) => {
    try {
      await work();
      scope.postMessage(ok);
    } catch (error) {
      scope.postMessage({
        kind: "failed",
        reason: oneLine(error),
        thrown: true,
      });
    }
  };
  scope.onmessage = ({ data }) => {
    if (data.kind === "load") {
      context = data.context;
      void answer(async () => {
        processor = await load(data.url);
        await processor.setup?.(context!);
      }, { kind: "ready" });
    } else if (data.kind === "file") {
      void answer(
        () => processor!.processFile(data.file, context!),
        { kind: "done" },
      );
    } else {
      void answer(() => processor?.teardown?.(), { kind: "done" })
        .finally(() => scope.close());
    }
  };
}
