/** The daemon's own pages: sync with a relay, and the session transcripts it follows. */
import type { ComponentChildren } from "preact";
import { api } from "../api.ts";
import { ErrorNote, Facts, Loading, Page, useLoad, when } from "../ui.tsx";

interface SyncStatus {
  enabled: boolean;
  relay?: string;
  device?: string;
  state?: string;
  cursor?: number | string | null;
  outbox?: number;
  dead_letters?: {
    count: number;
    recent: { hash?: string; doc_id?: string; error?: string; code?: string }[];
  };
  last_error?: string | { code?: string; message?: string } | null;
  last_sync_at?: string | null;
  pushed?: number;
  received?: number;
}

function text(v: unknown): string {
  if (v === null || v === undefined || v === "") return "—";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

export function SyncPage() {
  const status = useLoad(() => api<SyncStatus>("GET", "/v1/sync/status"), []);
  if (status.loading && !status.data) return <Loading what="sync status" />;
  const s = status.data;
  return (
    <Page title="Sync">
      <ErrorNote error={status.error} />
      {s && !s.enabled && (
        <p>
          Sync is off: this machine keeps its memories to itself. Turn it on with{" "}
          <code>tribalmemory sync enable</code> and a relay’s API key.
        </p>
      )}
      {s?.enabled && (
        <>
          <Facts
            rows={[
              ["Relay", text(s.relay)],
              ["State", text(s.state)],
              ["Device", text(s.device)],
              ["Cursor", text(s.cursor)],
              ["Outbox (changes waiting to be sent)", text(s.outbox)],
              ["Dead letters", text(s.dead_letters?.count)],
              ["Last error", text(s.last_error)],
              ["Last sync", when(s.last_sync_at ?? null)],
              ["Pushed / received", `${text(s.pushed)} / ${text(s.received)}`],
            ]}
          />
          {(s.dead_letters?.recent.length ?? 0) > 0 && (
            <>
              <h2>Recent dead letters</h2>
              <ul class="plain mono small">
                {s.dead_letters?.recent.map((d, i) => (
                  <li key={i}>{JSON.stringify(d)}</li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
      <button type="button" onClick={status.reload}>
        Refresh
      </button>
    </Page>
  );
}

interface SessionStats {
  watcher?: { folders?: string[]; files?: number; messages?: number; lines?: number; errors?: number } | null;
  retention_days?: number | null;
  [k: string]: unknown;
}

export function SessionsPage() {
  const stats = useLoad(() => api<SessionStats>("GET", "/v1/sessions/stats"), []);
  if (stats.loading && !stats.data) return <Loading what="sessions" />;
  const s = stats.data;
  const scalars: [string, ComponentChildren][] = s
    ? Object.entries(s)
        .filter(([, v]) => v === null || typeof v !== "object")
        .map(([k, v]) => [k.replaceAll("_", " "), text(v)])
    : [];
  return (
    <Page title="Sessions">
      <ErrorNote error={stats.error} />
      {s && (
        <>
          <h2>Transcripts followed</h2>
          {s.watcher ? (
            <>
              <Facts
                rows={[
                  ["Files followed", text(s.watcher.files)],
                  ["Messages read", text(s.watcher.messages)],
                  ["Errors", text(s.watcher.errors)],
                ]}
              />
              <ul class="plain mono small">
                {(s.watcher.folders ?? []).map((f) => (
                  <li key={f}>{f}</li>
                ))}
              </ul>
            </>
          ) : (
            <p>No transcript folders are followed (sessions.folders in config.yaml).</p>
          )}
          <h2>Stored</h2>
          <Facts rows={scalars} />
        </>
      )}
    </Page>
  );
}
