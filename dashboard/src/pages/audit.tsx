/** The workspace's audit log (admins), newest first, with its filters and a cursor. */
import type { AuditRow } from "@tribalmemory/sync-server/store/pg-audit";
import { useEffect, useState } from "preact/hooks";
import { api, query } from "../api.ts";
import { hasRole, useSession } from "../session.ts";
import { ErrorNote, Page, Scroll, useAction, when } from "../ui.tsx";

const EMPTY = { action: "", user_id: "", key_id: "", device_id: "", since: "", until: "" };

/** A `datetime-local` value as the instant the API wants (the browser's zone). */
function instant(local: string): string | undefined {
  return local ? new Date(local).toISOString() : undefined;
}

export function AuditPage() {
  const { workspace } = useSession();
  const action = useAction();
  const [filters, setFilters] = useState(EMPTY);
  const [rows, setRows] = useState<AuditRow[] | null>(null);
  const [next, setNext] = useState<string | null>(null);

  const load = async (cursor: string | null) => {
    const page = await api<{ entries: AuditRow[]; next_cursor: string | null }>(
      "GET",
      `/v1/audit${query({
        limit: 50,
        cursor,
        action: filters.action.trim(),
        user_id: filters.user_id.trim(),
        key_id: filters.key_id.trim(),
        device_id: filters.device_id.trim(),
        since: instant(filters.since),
        until: instant(filters.until),
      })}`,
    );
    setRows(cursor ? [...(rows ?? []), ...page.entries] : page.entries);
    setNext(page.next_cursor);
  };
  const admin = hasRole(workspace, "admin");
  useEffect(() => {
    if (admin) void action.run(() => load(null));
  }, []);

  if (!admin)
    return (
      <Page title="Audit log">
        <p>Only owners and admins read the audit log.</p>
      </Page>
    );
  const bind = (k: keyof typeof EMPTY) => ({
    value: filters[k],
    onInput: (e: Event) => setFilters({ ...filters, [k]: (e.target as HTMLInputElement).value }),
  });
  return (
    <Page title="Audit log">
      <form
        class="grid"
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(() => load(null));
        }}
      >
        <label>
          Action (e.g. key.* or memory.recall)
          <input name="action" {...bind("action")} />
        </label>
        <label>
          User id
          <input name="user_id" {...bind("user_id")} />
        </label>
        <label>
          Key id
          <input name="key_id" {...bind("key_id")} />
        </label>
        <label>
          Device id
          <input name="device_id" {...bind("device_id")} />
        </label>
        <label>
          Since
          <input type="datetime-local" name="since" {...bind("since")} />
        </label>
        <label>
          Until
          <input type="datetime-local" name="until" {...bind("until")} />
        </label>
        <div>
          <button type="submit" disabled={action.busy}>
            Filter
          </button>
        </div>
      </form>
      <ErrorNote error={action.error} />
      {rows && (
        <Scroll label="Audit entries">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Who</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id}>
                  <td>{when(r.at)}</td>
                  <td>
                    <code>{r.action}</code>
                  </td>
                  <td>{r.target ?? "—"}</td>
                  <td>
                    {[
                      r.user_id && `user ${r.user_id.slice(0, 8)}`,
                      r.key_id && `key ${r.key_id.slice(0, 8)}`,
                      r.device_id && `device ${r.device_id}`,
                    ]
                      .filter(Boolean)
                      .join(", ") || "—"}
                  </td>
                  <td class="mono small">{r.details ? JSON.stringify(r.details) : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {rows.length === 0 && <p>No entries match.</p>}
        </Scroll>
      )}
      {next && (
        <button type="button" onClick={() => void action.run(() => load(next))} disabled={action.busy}>
          Load more
        </button>
      )}
    </Page>
  );
}
