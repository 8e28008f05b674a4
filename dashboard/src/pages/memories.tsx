/**
 * Memories: the real recall (`POST /v1/recall`, the agents' search, with its filters) when a
 * query is given, else the newest first from `GET /v1/memories`, a cursor page at a time.
 * Content is rendered as text (Preact escapes it): a memory can hold anything an agent wrote.
 */
import { useEffect, useState } from "preact/hooks";
import { api, query } from "../api.ts";
import { type ListAnswer, type Memory, type RecallAnswer, SOURCE_TYPES } from "../memory-types.ts";
import { ErrorNote, Page, useAction, when } from "../ui.tsx";

interface Filters {
  q: string;
  tags: string;
  source_instance: string;
  source_type: string;
  after: string;
  before: string;
}

const EMPTY: Filters = { q: "", tags: "", source_instance: "", source_type: "", after: "", before: "" };

interface Shown {
  memories: { memory: Memory; score?: number }[];
  next: string | null;
  searched: string | null;
  timeFilter?: RecallAnswer["time_filter"];
}

function tagList(s: string): string[] {
  return s
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
}

export function MemoriesPage() {
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [shown, setShown] = useState<Shown | null>(null);
  const action = useAction();

  const listPage = (f: Filters, cursor: string | null) =>
    api<ListAnswer>(
      "GET",
      `/v1/memories${query({
        limit: 25,
        cursor,
        tags: tagList(f.tags).join(","),
        source_instance: f.source_instance.trim(),
        source_type: f.source_type,
        after: f.after.trim(),
        before: f.before.trim(),
      })}`,
    );

  const search = async (f: Filters) => {
    if (!f.q.trim()) {
      const page = await listPage(f, null);
      setShown({
        memories: page.memories.map((memory) => ({ memory })),
        next: page.next_cursor,
        searched: null,
      });
      return;
    }
    const tags = tagList(f.tags);
    const answer = await api<RecallAnswer>("POST", "/v1/recall", {
      query: f.q.trim(),
      limit: 25,
      ...(tags.length ? { tags } : {}),
      ...(f.source_instance.trim() ? { source_instance: f.source_instance.trim() } : {}),
      ...(f.source_type ? { source_type: f.source_type } : {}),
      ...(f.after.trim() ? { after: f.after.trim() } : {}),
      ...(f.before.trim() ? { before: f.before.trim() } : {}),
    });
    setShown({
      memories: answer.results.flatMap((r) =>
        r.memory ? [{ memory: r.memory, score: r.similarity_score }] : [],
      ),
      next: null,
      searched: answer.query,
      timeFilter: answer.time_filter,
    });
  };

  // The newest memories, before any search.
  useEffect(() => {
    void action.run(() => search(EMPTY));
  }, []);

  const more = async () => {
    if (!shown?.next) return;
    const page = await listPage(filters, shown.next);
    setShown({
      ...shown,
      memories: [...shown.memories, ...page.memories.map((memory) => ({ memory }))],
      next: page.next_cursor,
    });
  };

  const field = (name: keyof Filters) => ({
    value: filters[name],
    onInput: (e: Event) => setFilters({ ...filters, [name]: (e.target as HTMLInputElement).value }),
  });

  return (
    <Page title="Memories">
      <form
        class="search"
        aria-label="Search memories"
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(() => search(filters));
        }}
      >
        <div class="row">
          <label class="grow">
            Search
            <input type="search" name="q" placeholder="what did we decide about billing?" {...field("q")} />
          </label>
          <button type="submit" disabled={action.busy}>
            Search
          </button>
        </div>
        <details>
          <summary>Filters</summary>
          <div class="grid">
            <label>
              Tags (comma-separated)
              <input name="tags" {...field("tags")} />
            </label>
            <label>
              Source (agent)
              <input name="source_instance" placeholder="claude-code@laptop" {...field("source_instance")} />
            </label>
            <label>
              Source type
              <select name="source_type" {...field("source_type")}>
                <option value="">any</option>
                {SOURCE_TYPES.map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </select>
            </label>
            <label>
              After (a date or “last week”)
              <input name="after" {...field("after")} />
            </label>
            <label>
              Before
              <input name="before" {...field("before")} />
            </label>
          </div>
        </details>
      </form>
      <ErrorNote error={action.error} />
      {shown && (
        <section aria-label="Results">
          <p class="muted" role="status">
            {shown.searched === null
              ? `${shown.memories.length} newest memories`
              : `${shown.memories.length} found for “${shown.searched}”`}
            {shown.timeFilter ? ` (time: ${shown.timeFilter.phrase})` : ""}
          </p>
          <ul class="cards">
            {shown.memories.map(({ memory, score }) => (
              <li key={memory.id} class="card">
                <p class="content">{memory.content}</p>
                <p class="meta">
                  <a href={`/memories/${encodeURIComponent(memory.id)}`}>Details</a>
                  <span>{memory.source_instance}</span>
                  <span>{when(memory.created_at)}</span>
                  {memory.tags.map((t) => (
                    <span key={t} class="tag">
                      {t}
                    </span>
                  ))}
                  {score !== undefined && <span>score {score.toFixed(2)}</span>}
                  {memory.supersedes && <span class="tag">correction</span>}
                </p>
              </li>
            ))}
          </ul>
          {shown.next && (
            <button type="button" onClick={() => void action.run(more)} disabled={action.busy}>
              Load more
            </button>
          )}
        </section>
      )}
    </Page>
  );
}
