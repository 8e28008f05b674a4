/**
 * One memory: its fields, its history from the Automerge document (who changed what, when),
 * and correct / forget / purge, each asking first. A correction is a new memory that
 * supersedes this one: the page moves to it.
 */
import { useState } from "preact/hooks";
import { api, SOURCE } from "../api.ts";
import type { HistoryAnswer, HistoryEntry, Memory } from "../memory-types.ts";
import { navigate } from "../router.ts";
import { ConfirmButton, ErrorNote, Facts, Loading, Page, useAction, useLoad, when } from "../ui.tsx";

/**
 * Who made a change: the device the server names (a daemon's own changes are "this device"; a
 * relay names the sync device), else the Automerge actor, shortened (its full id on hover).
 */
function Writer({ h }: { h: HistoryEntry }) {
  const actor = <code title={h.actor}>{h.actor.slice(0, 12)}</code>;
  if (h.device === null) return <>device {actor}</>;
  if (h.device === h.actor) return <>sync device {actor}</>;
  return (
    <>
      <strong class="device">{h.device}</strong> <span class="muted small">(actor {actor})</span>
    </>
  );
}

function show(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) return v.length ? v.join(", ") : "—";
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function MemoryPage({ id }: { id: string }) {
  const path = `/v1/memories/${encodeURIComponent(id)}`;
  const loaded = useLoad(async () => {
    const [memory, history] = await Promise.all([
      api<Memory>("GET", path),
      api<HistoryAnswer>("GET", `${path}/history`),
    ]);
    return { memory, history };
  }, [id]);
  const action = useAction();
  const [correcting, setCorrecting] = useState(false);
  const [text, setText] = useState("");
  const [done, setDone] = useState<string | null>(null);

  if (loaded.loading && !loaded.data) return <Loading what="the memory" />;
  if (!loaded.data)
    return (
      <Page title="Memory">
        <ErrorNote error={loaded.error} />
        <p>
          <a href="/memories">Back to memories</a>
        </p>
      </Page>
    );
  const { memory, history } = loaded.data;

  const correct = async (e: Event) => {
    e.preventDefault();
    const answer = await action.run(() =>
      api<{ memory_id: string }>("POST", "/v1/correct", { original_id: memory.id, corrected_content: text }),
    );
    if (answer) navigate(`/memories/${answer.memory_id}`);
  };

  return (
    <Page title="Memory">
      <p>
        <a href="/memories">Back to memories</a>
      </p>
      <section aria-labelledby="content-h" class="card">
        <h2 id="content-h">Content</h2>
        <p class="content">{memory.content}</p>
        <Facts
          rows={[
            ["Id", <code key="id">{memory.id}</code>],
            ["Agent (source)", memory.source_instance],
            ["Source type", memory.source_type],
            ["Tags", show(memory.tags)],
            ["Created", when(memory.created_at)],
            ["Updated", when(memory.updated_at)],
            ["Confidence", String(memory.confidence)],
            [
              "State",
              memory.deleted ? "forgotten" : history.superseded ? "superseded by a correction" : "live",
            ],
            ...(history.superseded_by.length
              ? ([
                  [
                    "Superseded by",
                    <span key="by">
                      {history.superseded_by.map((id, i) => (
                        <span key={id}>
                          {i > 0 && ", "}
                          <a href={`/memories/${id}`}>{id}</a>
                        </span>
                      ))}
                    </span>,
                  ],
                ] as [string, preact.ComponentChildren][])
              : []),
            ...(memory.supersedes
              ? ([
                  [
                    "Corrects",
                    <a key="s" href={`/memories/${memory.supersedes}`}>
                      {memory.supersedes}
                    </a>,
                  ],
                ] as [string, preact.ComponentChildren][])
              : []),
          ]}
        />
      </section>

      <section aria-labelledby="actions-h">
        <h2 id="actions-h">Actions</h2>
        <ErrorNote error={action.error} />
        {done && (
          <p role="status" class="ok">
            {done}
          </p>
        )}
        {!memory.deleted && !correcting && (
          <button
            type="button"
            onClick={() => {
              setText(memory.content);
              setCorrecting(true);
            }}
          >
            Correct…
          </button>
        )}
        {correcting && (
          <form onSubmit={correct} class="stack">
            <label>
              Corrected content
              <textarea
                name="corrected_content"
                rows={4}
                required
                value={text}
                onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
              />
            </label>
            <p class="muted">
              The correction becomes a new memory; this one is kept, superseded, and leaves recall.
            </p>
            <div class="row">
              <button type="submit" disabled={action.busy || !text.trim()}>
                Save correction
              </button>
              <button type="button" onClick={() => setCorrecting(false)}>
                Cancel
              </button>
            </div>
          </form>
        )}
        <div class="row">
          {!memory.deleted && (
            <ConfirmButton
              label="Forget"
              question="Forget this memory? It leaves recall on every machine; its history stays."
              confirmLabel="Yes, forget it"
              onConfirm={async () => {
                if (await action.run(() => api("DELETE", path))) {
                  setDone("Forgotten.");
                  loaded.reload();
                }
              }}
            />
          )}
          <ConfirmButton
            label="Purge"
            question={
              SOURCE === "relay"
                ? "Purge erases the text everywhere, every machine included, and cannot be undone. Purge?"
                : "Purge erases the text from this machine and cannot be undone. Purge?"
            }
            confirmLabel="Yes, purge it"
            onConfirm={async () => {
              if (await action.run(() => api("DELETE", `${path}?purge=true`))) navigate("/memories");
            }}
          />
        </div>
      </section>

      <section aria-labelledby="history-h">
        <h2 id="history-h">History</h2>
        <ol class="history">
          {history.history.map((h) => (
            <li key={h.hash}>
              <p>
                <strong>{h.kind}</strong> {when(h.at)} by <Writer h={h} />
                {h.agent && <> · agent {h.agent}</>}
              </p>
              {h.changes.length > 0 && (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Field</th>
                      <th scope="col">Before</th>
                      <th scope="col">After</th>
                    </tr>
                  </thead>
                  <tbody>
                    {h.changes.map((c) => (
                      <tr key={c.field}>
                        <th scope="row">{c.field}</th>
                        <td>{show(c.from)}</td>
                        <td>{show(c.to)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </li>
          ))}
        </ol>
      </section>
    </Page>
  );
}
