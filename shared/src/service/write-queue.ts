/**
 * Serialises document edits: a memory's document is loaded, changed and written as one step,
 * so two concurrent edits of one memory never both start from the same heads.
 */
export class WriteQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
