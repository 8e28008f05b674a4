/** Members and their roles; invitations (admins), whose link is shown once. */
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { hasRole, useSession } from "../session.ts";
import { ConfirmButton, ErrorNote, Loading, Page, Scroll, useAction, useLoad, when } from "../ui.tsx";

interface Member {
  user_id: string;
  email: string | null;
  name: string;
  role: string;
}

interface Invitation {
  id: string;
  email: string | null;
  role: string;
  created_at: string;
  expires_at: string;
}

const ROLES = ["owner", "admin", "member", "viewer"];

export function MembersPage() {
  const session = useSession();
  const { workspace, me } = session;
  const base = `/v1/workspaces/${workspace?.id}`;
  const admin = hasRole(workspace, "admin");
  const members = useLoad(() => api<{ members: Member[] }>("GET", `${base}/members`), [base]);
  const invitations = useLoad(
    () =>
      admin
        ? api<{ invitations: Invitation[] }>("GET", `${base}/invitations`)
        : Promise.resolve({ invitations: [] }),
    [base],
  );
  const action = useAction();
  const [invite, setInvite] = useState({ email: "", role: "member" });
  const [link, setLink] = useState<string | null>(null);

  return (
    <Page title="Members">
      <ErrorNote error={action.error} />
      {members.loading && !members.data ? (
        <Loading what="members" />
      ) : (
        <Scroll label="Members">
          <ErrorNote error={members.error} />
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {members.data?.members.map((m) => (
                <tr key={m.user_id}>
                  <td>{m.name}</td>
                  <td>{m.email ?? "—"}</td>
                  <td>
                    {admin && m.user_id !== me?.user.id ? (
                      <select
                        aria-label={`Role of ${m.email ?? m.name}`}
                        value={m.role}
                        onChange={async (e) => {
                          const role = (e.target as HTMLSelectElement).value;
                          if (await action.run(() => api("PATCH", `${base}/members/${m.user_id}`, { role })))
                            members.reload();
                        }}
                      >
                        {ROLES.map((r) => (
                          <option key={r} value={r}>
                            {r}
                          </option>
                        ))}
                      </select>
                    ) : (
                      m.role
                    )}
                  </td>
                  <td>
                    {(admin || m.user_id === me?.user.id) && (
                      <ConfirmButton
                        label={m.user_id === me?.user.id ? "Leave" : `Remove ${m.name}`}
                        question={
                          m.user_id === me?.user.id
                            ? "Leave this workspace?"
                            : `Remove ${m.name}? Their keys are revoked.`
                        }
                        confirmLabel="Yes"
                        onConfirm={async () => {
                          if (await action.run(() => api("DELETE", `${base}/members/${m.user_id}`))) {
                            if (m.user_id === me?.user.id) await session.refresh();
                            else members.reload();
                          }
                        }}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      )}

      {admin && (
        <>
          <h2>Invite someone</h2>
          <form
            class="stack"
            onSubmit={async (e) => {
              e.preventDefault();
              const answer = await action.run(() =>
                api<{ link_path: string }>("POST", `${base}/invitations`, {
                  role: invite.role,
                  ...(invite.email.trim() ? { email: invite.email.trim() } : {}),
                }),
              );
              if (answer) {
                setLink(`${location.origin}${answer.link_path}`);
                setInvite({ email: "", role: "member" });
                invitations.reload();
              }
            }}
          >
            <label>
              Email (optional: only this person may accept)
              <input
                type="email"
                name="invite_email"
                value={invite.email}
                onInput={(e) => setInvite({ ...invite, email: (e.target as HTMLInputElement).value })}
              />
            </label>
            <label>
              Role
              <select
                name="invite_role"
                value={invite.role}
                onChange={(e) => setInvite({ ...invite, role: (e.target as HTMLSelectElement).value })}
              >
                {ROLES.slice(1).map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit" disabled={action.busy}>
              Create invitation
            </button>
          </form>
          {link && (
            <div class="secret" role="status">
              <p>Send this link to the person you invite. It is shown only once.</p>
              <label>
                Invitation link
                <input
                  class="mono"
                  readOnly
                  value={link}
                  onFocus={(e) => (e.target as HTMLInputElement).select()}
                />
              </label>
            </div>
          )}
          <h2>Open invitations</h2>
          <ErrorNote error={invitations.error} />
          <ul class="plain">
            {invitations.data?.invitations.map((i) => (
              <li key={i.id}>
                {i.email ?? "anyone with the link"} as {i.role}, until {when(i.expires_at)}{" "}
                <ConfirmButton
                  // Named by whom it invites: one "Revoke" per row would be a list of same-named buttons.
                  label={`Revoke invitation for ${i.email ?? "anyone with the link"}`}
                  question="Revoke this invitation?"
                  confirmLabel="Yes, revoke"
                  onConfirm={async () => {
                    if (await action.run(() => api("DELETE", `${base}/invitations/${i.id}`)))
                      invitations.reload();
                  }}
                />
              </li>
            ))}
          </ul>
        </>
      )}
    </Page>
  );
}
