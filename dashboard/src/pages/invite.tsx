/**
 * `/invite#<token>`: accept an invitation. The token sits in the fragment, which a browser never
 * sends to a server (no log, no Referer holds it); it leaves the address bar once used.
 */
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { navigate } from "../router.ts";
import { useSession } from "../session.ts";
import { ErrorNote, Page, useAction } from "../ui.tsx";
import { LoginForm, SignupForm } from "./auth.tsx";

export function InvitePage() {
  const session = useSession();
  const action = useAction();
  const [token] = useState(() => decodeURIComponent(location.hash.slice(1)));
  const [mode, setMode] = useState<"login" | "signup">("signup");

  if (!token)
    return (
      <Page title="Invitation">
        <p role="alert">This invitation link has no token: ask for the link again (it ends in #…).</p>
      </Page>
    );

  if (!session.me)
    return (
      <Page title="Join a workspace">
        <p>You were invited to a TribalMemory workspace. Sign up or log in, then accept.</p>
        <fieldset class="row">
          <legend>Your account</legend>
          <button type="button" aria-pressed={mode === "signup"} onClick={() => setMode("signup")}>
            I’m new: sign up
          </button>
          <button type="button" aria-pressed={mode === "login"} onClick={() => setMode("login")}>
            I have an account: log in
          </button>
        </fieldset>
        {mode === "signup" ? (
          <SignupForm next={`/invite${location.hash}`} withWorkspace={false} />
        ) : (
          <LoginForm next={`/invite${location.hash}`} />
        )}
      </Page>
    );

  return (
    <Page title="Join a workspace">
      <p>
        Logged in as {session.me.user.email ?? session.me.user.name}. Accept the invitation to join its
        workspace.
      </p>
      <ErrorNote error={action.error} />
      <button
        type="button"
        disabled={action.busy}
        onClick={async () => {
          const answer = await action.run(() =>
            api<{ workspace_id: string; role: string }>("POST", "/v1/invitations/accept", { token }),
          );
          if (!answer) return;
          await session.refresh(answer.workspace_id);
          navigate("/memories", true);
        }}
      >
        Accept invitation
      </button>
    </Page>
  );
}
