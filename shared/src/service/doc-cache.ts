import { type AutomergeMemoryDoc, loadMemoryDoc } from "../memory/document.ts";
import type { MemoryStore } from "../store/memory-store.ts";

/** Live Automerge documents of recently edited memories; the rest load from their snapshot. */
export class DocCache {
  private readonly docs = new Map<string, AutomergeMemoryDoc>();
  private readonly store: MemoryStore;
  private readonly actor: string;
  private readonly capacity: number;

  constructor(store: MemoryStore, actor: string, capacity = 1000) {
    this.store = store;
    this.actor = actor;
    this.capacity = capacity;
  }

  async load(id: string): Promise<AutomergeMemoryDoc | null> {
    const cached = this.docs.get(id);
    if (cached) {
      this.docs.delete(id);
      this.docs.set(id, cached);
      return cached;
    }
    const bytes = await this.store.getDoc(id);
    if (!bytes) return null;
    const doc = loadMemoryDoc(bytes, this.actor);
    this.put(id, doc);
    return doc;
  }

  put(id: string, doc: AutomergeMemoryDoc): void {
    this.docs.delete(id);
    this.docs.set(id, doc);
    if (this.docs.size > this.capacity) {
      const oldest = this.docs.keys().next().value;
      if (oldest !== undefined) this.docs.delete(oldest);
    }
  }

  forget(id: string): void {
    this.docs.delete(id);
  }
}
