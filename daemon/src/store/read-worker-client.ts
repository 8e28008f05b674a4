import { setTimeout as delay } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { runtimeModuleUrl } from "@tribalmemory/shared/config/install-layout";
import type { ReadQuery, ReadReply, ReadRequest } from "./read-worker.ts";

/** Runs read-only queries on `read-worker.ts`'s connection; see there for why. */
export class ReadWorkerClient {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (rows: unknown[]) => void; reject: (err: Error) => void }
  >();
  private broken: Error | null = null;
  /** Settled once the worker has opened its connection (or failed): `close` waits for it. */
  private readonly started = Promise.withResolvers<void>();
  private hasStarted = false;

  constructor(path: string) {
    const started = () => {
      this.hasStarted = true;
      this.started.resolve();
    };
    this.worker = new Worker(runtimeModuleUrl(new URL("./read-worker.ts", import.meta.url)), {
      workerData: { path },
    });
    this.worker.unref();
    this.worker.on("message", (reply: ReadReply) => {
      if ("ready" in reply) return started();
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      if ("error" in reply) p.reject(new Error(reply.error));
      else p.resolve(reply.rows);
    });
    const fail = (err: Error) => {
      started();
      this.broken = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", () => fail(new Error("read worker exited")));
  }

  get usable(): boolean {
    return this.broken === null;
  }

  all<T>(sql: string, params: Record<string, unknown>): Promise<T[]> {
    return this.send<T>({ sql, params });
  }

  /** Any of the worker's requests (`ReadQuery`, read-worker.ts). */
  send<T>(request: ReadQuery): Promise<T[]> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    // Keep the process alive while a query is out, not while the worker idles.
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<T[]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (rows: unknown[]) => void, reject });
      this.worker.postMessage({ ...request, id } satisfies ReadRequest);
    });
  }

  /** Whether the worker has opened its connection (or failed). */
  get isStarted(): boolean {
    return this.hasStarted;
  }

  /**
   * Terminates the worker once it has started: terminated while it loads better-sqlite3's
   * addon, the process aborts (`FATAL ERROR: Error::New napi_get_last_error_info`, seen in CI
   * when a test closed a store just opened). A worker that never starts is terminated after 10 s.
   */
  async close(): Promise<void> {
    this.broken ??= new Error("store closed");
    this.worker.ref(); // the process waits for the worker's start, as for its exit
    await Promise.race([this.started.promise, delay(10_000, undefined, { ref: false })]);
    await this.worker.terminate();
  }
}
