import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import type { SessionMessageInput } from "@tribalmemory/shared/sessions/schemas";
import type { SessionService } from "@tribalmemory/shared/sessions/session-service";
import {
  parseTranscriptLine,
  transcriptFormatOf,
  transcriptSessionId,
} from "@tribalmemory/shared/sessions/transcript-records";
import { type FSWatcher, watch } from "chokidar";
import type { Logger } from "pino";
import type { WatchOffsetsStore } from "../store/watch-offsets-store.ts";

export interface TranscriptWatcherOptions {
  offsets: WatchOffsetsStore;
  sessions: SessionService;
  folders: string[];
  log: Logger;
  /** Lines longer than this are skipped whole (counted in stats). */
  maxLineBytes?: number;
  /** Quiet time after a change event before reading (coalesces bursts of appends). */
  debounceMs?: number;
}

export interface WatcherStats {
  files: number;
  lines: number;
  messages: number;
  skipped: { not_json: number; unknown_record: number; empty: number; too_long: number };
  errors: number;
}

const READ_BLOCK = 1024 * 1024;
const INGEST_BATCH = 500;

/**
 * Follows agent transcript folders and ingests what is appended. Reads only new bytes from
 * the offset persisted per file (same database as the sessions, so a restart neither loses
 * nor repeats a message); a partial last line waits for its newline; a file that shrank was
 * truncated and is read again from the start (message ids make that idempotent); a file
 * replaced under the same name (new inode) is read from the start.
 */
export class TranscriptWatcher {
  private readonly options: Required<TranscriptWatcherOptions>;
  private watcher: FSWatcher | null = null;
  private readonly running = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;
  readonly stats: WatcherStats = {
    files: 0,
    lines: 0,
    messages: 0,
    skipped: { not_json: 0, unknown_record: 0, empty: 0, too_long: 0 },
    errors: 0,
  };

  constructor(options: TranscriptWatcherOptions) {
    this.options = { maxLineBytes: 16 * 1024 * 1024, debounceMs: 30, ...options };
  }

  /** Start watching; resolves once the initial scan has queued every existing transcript. */
  async start(): Promise<void> {
    const folders = this.options.folders;
    if (!folders.length) return;
    this.watcher = watch(folders, {
      ignored: (path, stats) => Boolean(stats?.isFile() && !path.endsWith(".jsonl")),
      ignoreInitial: false,
      persistent: true,
    });
    this.watcher
      .on("add", (path) => this.schedule(path))
      .on("change", (path) => this.schedule(path))
      // A rename reports unlink + add in either order: forget the old name only once it stays
      // gone, so the new name can take over its offset and session.
      .on("unlink", (path) => {
        const t = setTimeout(() => {
          this.timers.delete(`unlink:${path}`);
          if (!existsSync(path)) this.forget(path);
        }, 1500);
        this.timers.set(`unlink:${path}`, t);
      })
      .on("error", (err) => {
        this.stats.errors++;
        this.options.log.warn({ err: (err as Error).message }, "transcript watcher error");
      });
    await new Promise<void>((resolve) => this.watcher?.once("ready", () => resolve()));
    this.options.log.info({ folders }, "watching agent transcripts");
    void this.idle().then(() => {
      if (!this.closed) {
        this.options.log.info(
          { files: this.stats.files, messages: this.stats.messages },
          "transcripts caught up",
        );
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await this.watcher?.close();
    await Promise.allSettled([...this.running.values()]);
  }

  /** Resolves when no read is queued or running (tests and benchmarks wait on it). */
  async idle(): Promise<void> {
    while (this.timers.size || this.running.size) {
      await Promise.allSettled([...this.running.values()]);
      if (this.timers.size) await new Promise((r) => setTimeout(r, this.options.debounceMs + 5));
    }
  }

  private schedule(path: string): void {
    if (this.closed || !path.endsWith(".jsonl")) return;
    const t = this.timers.get(path);
    if (t) clearTimeout(t);
    this.timers.set(
      path,
      setTimeout(() => {
        this.timers.delete(path);
        void this.readAppended(path);
      }, this.options.debounceMs),
    );
  }

  // A first start may find thousands of transcripts: read a few at a time, not all at once.
  private freeSlots = 2;
  private readonly slotWaiters: (() => void)[] = [];

  private async acquireSlot(): Promise<void> {
    if (this.freeSlots > 0) {
      this.freeSlots--;
      return;
    }
    await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.slotWaiters.shift();
    if (next) next();
    else this.freeSlots++;
  }

  private forget(path: string): void {
    this.options.offsets.delete(path);
  }

  /** Read what was appended to one file since its persisted offset. Serialised per file. */
  readAppended(path: string): Promise<void> {
    const current = this.running.get(path);
    if (current) {
      this.dirty.add(path);
      return current;
    }
    const run = (async () => {
      await this.acquireSlot();
      try {
        do {
          this.dirty.delete(path);
          await this.readOnce(path);
        } while (this.dirty.has(path) && !this.closed);
      } catch (err) {
        this.stats.errors++;
        this.options.log.warn({ path, err: (err as Error).message }, "could not read transcript");
      } finally {
        this.releaseSlot();
        this.running.delete(path);
      }
    })();
    this.running.set(path, run);
    return run;
  }

  private async readOnce(path: string): Promise<void> {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(path);
    } catch {
      this.forget(path);
      return;
    }
    const fileId = `${st.dev}:${st.ino}`;
    let row = this.options.offsets.get(path);
    if (!row) {
      // Renamed (same inode under a new .jsonl name): carry on from where the old name was.
      const moved = this.options.offsets.byFileId(fileId);
      const gone = moved.find((m) => !existsSync(m.path));
      if (gone) {
        this.options.offsets.delete(gone.path);
        row = gone;
      } else {
        this.stats.files++;
      }
    }
    let offset = row && row.file_id === fileId ? row.offset : 0;
    if (offset > st.size) {
      this.options.log.info(
        { path, offset, size: st.size },
        "transcript shrank (truncated): reading it again",
      );
      offset = 0;
    }
    if (offset === st.size) {
      if (!row || row.file_id !== fileId) this.persist(path, fileId, offset, row?.session_id);
      return;
    }
    const format = transcriptFormatOf(path);
    const sessionId = row?.file_id === fileId ? row.session_id : transcriptSessionId(path, format);
    const fd = openSync(path, "r");
    try {
      const block = Buffer.allocUnsafe(READ_BLOCK);
      let pos = offset;
      let lineStart = offset;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let tooLong = false;
      let batch: SessionMessageInput[] = [];
      let committed = offset;
      const flush = async (upTo: number) => {
        if (batch.length) {
          const messages = batch;
          batch = [];
          await this.options.sessions.ingest({
            session_id: sessionId,
            messages,
            source: format,
            instance_id: format,
          });
          const before = this.stats.messages;
          this.stats.messages += messages.length;
          if (Math.floor(before / 5000) !== Math.floor(this.stats.messages / 5000)) {
            this.options.log.info(
              { messages: this.stats.messages, files: this.stats.files },
              "ingesting transcripts",
            );
          }
        }
        committed = upTo;
        this.persist(path, fileId, committed, sessionId);
      };
      for (;;) {
        const n = readSync(fd, block, 0, READ_BLOCK, pos);
        if (n <= 0) break;
        let from = 0;
        for (;;) {
          const nl = block.indexOf(10, from);
          const end = nl === -1 || nl >= n ? n : nl;
          const piece = block.subarray(from, end);
          if (!tooLong) {
            if (pendingBytes + piece.length > this.options.maxLineBytes) {
              tooLong = true;
              pending = [];
              pendingBytes = 0;
            } else if (piece.length) {
              pending.push(Buffer.from(piece));
              pendingBytes += piece.length;
            }
          }
          if (end === n) break;
          // A complete line: [lineStart, pos + nl].
          const line = tooLong ? null : Buffer.concat(pending, pendingBytes).toString("utf8");
          this.stats.lines++;
          if (line === null) {
            this.stats.skipped.too_long++;
            this.options.log.warn({ path, offset: lineStart }, "transcript line too long: skipped");
          } else if (line.trim()) {
            const parsed = parseTranscriptLine(line, format);
            if (parsed.kind === "message") batch.push(parsed.message);
            else if (parsed.reason === "not-json") this.stats.skipped.not_json++;
            else if (parsed.reason === "unknown-record") this.stats.skipped.unknown_record++;
            else this.stats.skipped.empty++;
          }
          pending = [];
          pendingBytes = 0;
          tooLong = false;
          lineStart = pos + nl + 1;
          from = nl + 1;
          if (batch.length >= INGEST_BATCH) await flush(lineStart);
        }
        pos += n;
        if (this.closed) break;
      }
      // A partial last line (no newline yet) stays unread until the writer finishes it.
      if (batch.length || lineStart !== committed) await flush(lineStart);
    } finally {
      closeSync(fd);
    }
  }

  private persist(path: string, fileId: string, offset: number, sessionId?: string): void {
    const id = sessionId ?? transcriptSessionId(path, transcriptFormatOf(path));
    this.options.offsets.put({ path, file_id: fileId, offset, session_id: id });
  }
}
