import { TribalError } from "../errors.ts";

/**
 * Serialises document edits: a memory's document is loaded, changed and written as one step,
 * so two concurrent edits of one memory never both start from the same heads.
 *
 * A task whose `signal` has fired by its turn is skipped: after a burst, clients that timed out
 * left ~1,000 remembers queued on the relay, and running them kept every new request waiting
 * 25–60 s behind work no one would read.
 */
export class WriteQueue {
  private tail: Promise<unknown> = Promise.resolve();
  /** Tasks queued or running (the relay's metrics show it as write queue depth). */
  depth = 0;

  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const turn = signal ? () => (signal.aborted ? Promise.reject(clientClosed()) : task()) : task;
    this.depth++;
    const result = this.tail.then(turn, turn).finally(() => {
      this.depth--;
    });
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** The error of a write skipped because its client went away. */
export function clientClosed(): TribalError {
  return new TribalError(
    "CLIENT_CLOSED_REQUEST",
    "The client closed the connection before this write's turn; it was not made. Retry it.",
  );
}
