/** The user's workspaces: which to act in, and a new one. */
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { useSession } from "../session.ts";
import { ErrorNote, Page, useAction } from "../ui.tsx";

export function WorkspacesPage() {
  const session = useSession();
  const action = useAction();
  const [name, setName] = useState("");
  const me = session.me;
  if (!me) return null;
  return (
    <Page title="Workspaces">
      {me.workspaces.length === 0 && (
        <p>You belong to no workspace yet: create one, or accept an invitation link.</p>
      )}
      <ul class="plain">
        {me.workspaces.map((w) => (
          <li key={w.id}>
            <button
              type="button"
              aria-pressed={session.workspace?.id === w.id}
              onClick={() => session.selectWorkspace(w.id)}
            >
              {w.name}
            </button>{" "}
            <span class="muted">
              {w.role} · <code>{w.id}</code>
            </span>
          </li>
        ))}
      </ul>
      <h2>New workspace</h2>
      <form
        class="row"
        onSubmit={async (e) => {
          e.preventDefault();
          const answer = await action.run(() =>
            api<{ workspace: { id: string } }>("POST", "/v1/workspaces", { name: name.trim() }),
          );
          if (answer) {
            setName("");
            await session.refresh(answer.workspace.id);
          }
        }}
      >
        <label class="grow">
          Name
          <input
            name="workspace_name"
            required
            value={name}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" disabled={action.busy}>
          Create workspace
        </button>
      </form>
      <ErrorNote error={action.error} />
    </Page>
  );
}
