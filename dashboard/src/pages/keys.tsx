/** API keys of the workspace (admins): create (the secret is shown once), list, revoke. */
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { hasRole, useSession } from "../session.ts";
import { ConfirmButton, ErrorNote, Loading, Page, Scroll, useAction, useLoad, when } from "../ui.tsx";

interface KeyInfo {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

const SCOPES = ["read", "write", "admin"] as const;

export function KeysPage() {
  const { workspace } = useSession();
  const base = `/v1/workspaces/${workspace?.id}/keys`;
  const admin = hasRole(workspace, "admin");
  const keys = useLoad(
    () => (admin ? api<{ keys: KeyInfo[] }>("GET", base) : Promise.resolve({ keys: [] })),
    [base],
  );
  const action = useAction();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>(["read", "write"]);
  const [created, setCreated] = useState<{ key: string; name: string } | null>(null);

  if (!admin)
    return (
      <Page title="API keys">
        <p>Only owners and admins of a workspace manage its keys; ask one of them.</p>
      </Page>
    );

  return (
    <Page title="API keys">
      <h2>New key</h2>
      <form
        class="stack"
        onSubmit={async (e) => {
          e.preventDefault();
          const key = await action.run(() =>
            api<{ key: string; name: string }>("POST", base, { name: name.trim() || "key", scopes }),
          );
          if (key) {
            setCreated({ key: key.key, name: key.name });
            setName("");
            keys.reload();
          }
        }}
      >
        <label>
          Name
          <input
            name="key_name"
            placeholder="laptop daemon"
            value={name}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </label>
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} class="inline">
              <input
                type="checkbox"
                name="scopes"
                value={s}
                checked={scopes.includes(s)}
                onChange={(e) =>
                  setScopes(
                    (e.target as HTMLInputElement).checked ? [...scopes, s] : scopes.filter((x) => x !== s),
                  )
                }
              />{" "}
              {s}
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={action.busy || scopes.length === 0}>
          Create key
        </button>
      </form>
      <ErrorNote error={action.error} />
      {created && (
        <div class="secret" role="status">
          <p>
            <strong>Key “{created.name}” created.</strong> Copy it now: it is shown only once and cannot be
            read again.
          </p>
          <label>
            Secret
            <input
              class="mono"
              readOnly
              value={created.key}
              onFocus={(e) => (e.target as HTMLInputElement).select()}
            />
          </label>
          <button type="button" onClick={() => setCreated(null)}>
            I have copied it
          </button>
        </div>
      )}
      <h2>Keys</h2>
      {keys.loading && !keys.data ? (
        <Loading what="keys" />
      ) : (
        <>
          <ErrorNote error={keys.error} />
          <Scroll label="Keys">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Scopes</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {keys.data?.keys.map((k) => (
                  <tr key={k.id}>
                    <td>{k.name}</td>
                    <td>
                      <code>{k.prefix}…</code>
                    </td>
                    <td>{k.scopes.join(", ")}</td>
                    <td>{when(k.created_at)}</td>
                    <td>{k.last_used_at ? when(k.last_used_at) : "never"}</td>
                    <td>
                      {k.revoked_at ? (
                        `revoked ${when(k.revoked_at)}`
                      ) : (
                        <ConfirmButton
                          label={`Revoke ${k.name}`}
                          question={`Revoke “${k.name}”? Agents using it are refused at once.`}
                          confirmLabel="Yes, revoke"
                          onConfirm={async () => {
                            if (await action.run(() => api("DELETE", `${base}/${k.id}`))) keys.reload();
                          }}
                        />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Scroll>
        </>
      )}
    </Page>
  );
}
