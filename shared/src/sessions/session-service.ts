import { sha256Hex } from "../memory/content.ts";
import { mergeRedactionCounts, type RedactionCount, redactSecrets } from "../memory/secret-redaction.ts";
import { keywordTerms } from "../recall/keyword-query.ts";
import { fuseSearchHits, type RecallSignals } from "../recall/pipeline.ts";
import type { EmbedderInfo } from "../service/memory-service.ts";
import { resolveTimeBound } from "../service/time-bounds.ts";
import { WriteQueue } from "../service/write-queue.ts";
import { chunkMessages } from "./chunking.ts";
import type { SessionIngestBody, SessionSearchQuery } from "./schemas.ts";
import type {
  NewSessionMessage,
  SessionChunk,
  SessionFilters,
  SessionStats,
  SessionStore,
} from "./session-store.ts";

/**
 * Transcripts carry tool outputs and pasted blobs; past this many characters a message adds
 * embedding time without helping anyone find the conversation, so the rest is cut.
 */
export const MAX_INDEXED_MESSAGE_CHARS = 64 * 1024;

export interface SessionServiceOptions {
  store: SessionStore;
  /** The memory service's current embedder (null while loading or with none configured). */
  embedder: () => EmbedderInfo | null;
  instanceId: string;
  /** Messages older than this are neither ingested nor kept. 0 = keep forever. */
  retentionDays: number;
  now?: () => Date;
  /** Replace secrets in messages before they are stored or synced (config `redaction.enabled`; default on). */
  redactSecrets?: boolean;
}

export interface SessionIngestOutcome {
  success: true;
  session_id: string;
  messages_processed: number;
  duplicates: number;
  expired: number;
  chunks_created: number;
  /** Secrets replaced in the messages, by kind (secret-redaction.ts). */
  redacted: RedactionCount[];
}

export interface SessionHit {
  chunk: SessionChunk;
  score: number;
  signals: RecallSignals;
}

/** Session transcripts: append-only ingest, chunking, embedding, search. No I/O of its own. */
export class SessionService {
  readonly store: SessionStore;
  private readonly embedder: () => EmbedderInfo | null;
  private readonly instanceId: string;
  readonly retentionDays: number;
  private readonly now: () => Date;
  // One ingest at a time: the open chunk is read, re-chunked and replaced as one step.
  private readonly queue = new WriteQueue();

  constructor(options: SessionServiceOptions) {
    this.store = options.store;
    this.embedder = options.embedder;
    this.instanceId = options.instanceId;
    this.retentionDays = options.retentionDays;
    this.now = options.now ?? (() => new Date());
    this.redaction = options.redactSecrets ?? true;
  }

  private readonly redaction: boolean;

  async ingest(body: SessionIngestBody): Promise<SessionIngestOutcome> {
    const nowMs = this.now().getTime();
    const cutoff = this.cutoffMs(nowMs);
    let expired = 0;
    const fresh: NewSessionMessage[] = [];
    const redacted: RedactionCount[] = [];
    for (const m of body.messages) {
      const parsed = m.timestamp ? Date.parse(m.timestamp) : Number.NaN;
      const timestampMs = Number.isNaN(parsed) ? nowMs : parsed;
      if (cutoff !== null && timestampMs < cutoff) {
        expired++;
        continue;
      }
      // Transcripts hold tool output (env dumps, config files): secrets go before anything is kept.
      const found = this.redaction ? redactSecrets(m.content) : null;
      if (found) mergeRedactionCounts(redacted, found.redacted);
      const text = found ? found.text : m.content;
      const content =
        text.length > MAX_INDEXED_MESSAGE_CHARS
          ? `${text.slice(0, MAX_INDEXED_MESSAGE_CHARS)} […${text.length - MAX_INDEXED_MESSAGE_CHARS} characters not indexed]`
          : text;
      const key =
        m.id !== undefined
          ? `id:${m.id}`
          : m.index !== undefined
            ? `ix:${m.index}`
            : `h:${sha256Hex(`${m.role}\u0000${m.timestamp ?? ""}\u0000${text}`)}`;
      fresh.push({
        key,
        role: m.role,
        content: content.isWellFormed() ? content : content.toWellFormed(),
        timestampMs,
      });
    }
    const meta = { instanceId: body.instance_id ?? this.instanceId, source: body.source ?? null };
    return this.queue.run(async () => {
      const { inserted, duplicates } = await this.store.appendMessages(body.session_id, meta, fresh);
      let chunksCreated = 0;
      if (inserted.length > 0) {
        const open = await this.store.openChunk(body.session_id);
        const start = open?.start ?? { seq: inserted[0].seq, token: 0 };
        const messages = await this.store.messagesFrom(body.session_id, start.seq);
        const drafts = chunkMessages(messages, start);
        const embedder = this.embedder();
        const vectors =
          embedder && drafts.length
            ? await embedder.provider.embed(
                drafts.map((d) => d.content),
                "passage",
              )
            : null;
        await this.store.replaceTail(
          body.session_id,
          open,
          drafts.map((draft, i) => ({
            draft,
            vector: vectors && embedder ? { modelId: embedder.provider.modelId, vector: vectors[i] } : null,
          })),
        );
        chunksCreated = drafts.length;
      }
      return {
        success: true as const,
        session_id: body.session_id,
        messages_processed: inserted.length,
        duplicates,
        expired,
        chunks_created: chunksCreated,
        redacted,
      };
    });
  }

  /** Keyword + vector search over chunks, fused on the same 0..1 scale as memory recall. */
  async search(q: SessionSearchQuery): Promise<SessionHit[]> {
    const now = this.now();
    const filters: SessionFilters = {
      sessionId: q.session_id,
      instanceId: q.instance_id,
      after: resolveTimeBound("after", q.after, now),
      before: resolveTimeBound("before", q.before, now),
    };
    const pool = Math.max(q.limit * 4, 40);
    const terms = keywordTerms(q.query);
    const embedder = this.embedder();
    const vector = embedder ? await this.embedQuery(embedder, q.query) : null;
    const [keywordHits, vectorHits] = await Promise.all([
      terms.length ? this.store.keywordSearch(terms, pool, filters) : Promise.resolve([]),
      vector && embedder
        ? this.store.vectorSearch(vector, embedder.provider.modelId, pool, filters)
        : Promise.resolve(null),
    ]);
    const { fused } = fuseSearchHits(
      keywordHits,
      vectorHits,
      embedder?.calibration ?? { floor: 0, ceiling: 1, weight: 0 },
    );
    const top = fused.filter((f) => f.score > 0 && f.score >= q.min_relevance).slice(0, q.limit);
    const chunks = new Map((await this.store.getChunks(top.map((f) => f.id))).map((c) => [c.chunk_id, c]));
    return top.flatMap((f) => {
      const chunk = chunks.get(f.id);
      if (!chunk) return [];
      const signals: RecallSignals = {};
      if (f.signals.vector)
        signals.vector = { rank: f.signals.vector.rank, similarity: round(f.signals.vector.score) };
      if (f.signals.keyword)
        signals.keyword = { rank: f.signals.keyword.rank, bm25: round(f.signals.keyword.score) };
      return [{ chunk, score: round(Math.min(1, f.score)), signals }];
    });
  }

  /** Embed chunks stored while no model was loaded (or under another model). */
  async backfillVectors(limit = 256): Promise<number> {
    const embedder = this.embedder();
    if (!embedder) return 0;
    const missing = await this.store.chunksMissingVectors(embedder.provider.modelId, limit);
    if (!missing.length) return 0;
    const vectors = await embedder.provider.embed(
      missing.map((m) => m.content),
      "passage",
    );
    await this.store.putChunkVectors(
      embedder.provider.modelId,
      missing.map((m, i) => ({ id: m.id, vector: vectors[i] })),
    );
    return missing.length;
  }

  /** Apply the retention: what is older than `retentionDays` is deleted. */
  async prune(): Promise<{ messages: number; chunks: number }> {
    const cutoff = this.cutoffMs(this.now().getTime());
    if (cutoff === null) return { messages: 0, chunks: 0 };
    return this.queue.run(() => this.store.deleteOlderThan(cutoff));
  }

  stats(): Promise<SessionStats> {
    return this.store.stats();
  }

  private cutoffMs(nowMs: number): number | null {
    return this.retentionDays > 0 ? nowMs - this.retentionDays * 86_400_000 : null;
  }

  private readonly queryCache = new Map<string, Float32Array>();

  private async embedQuery(embedder: EmbedderInfo, text: string): Promise<Float32Array> {
    const key = `${embedder.provider.modelId}\u0000${text}`;
    const hit = this.queryCache.get(key);
    if (hit) return hit;
    const [v] = await embedder.provider.embed([text], "query");
    this.queryCache.set(key, v);
    if (this.queryCache.size > 256) this.queryCache.delete(this.queryCache.keys().next().value as string);
    return v;
  }
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
