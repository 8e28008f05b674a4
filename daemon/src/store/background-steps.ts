import type Database from "better-sqlite3";

/**
 * A long pass over a store run as short steps on timers, `pauseMs` apart, while `step` returns
 * true: each step its own transaction, the event loop free between them. A step is put off while
 * the connection is inside a transaction. One that throws (a full disk) is rolled back and ends
 * the pass, which resumes from its own cursor when the store next opens.
 */
export class BackgroundSteps {
  private readonly db: Database.Database;
  private readonly step: () => boolean;
  private timer: NodeJS.Timeout | null = null;

  constructor(db: Database.Database, step: () => boolean) {
    this.db = db;
    this.step = step;
  }

  /** Starts the pass (the first step after `delayMs`); a pass already running goes on as it was. */
  start(pauseMs: number, delayMs = pauseMs): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.db.open) return;
      try {
        if (this.db.inTransaction || this.step()) this.start(pauseMs);
      } catch {
        // rolled back; resumed at the next open
      }
    }, delayMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
