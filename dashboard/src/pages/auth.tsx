/** Log in and sign up on the relay. The session is an HttpOnly cookie the page never sees. */
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { navigate } from "../router.ts";
import { useSession } from "../session.ts";
import { ErrorNote, Page, useAction } from "../ui.tsx";

/** After logging in: back to the invitation when one brought the user here, else to memories. */
function afterLogin(next?: string) {
  if (next) navigate(next, true);
  else if (location.pathname === "/login" || location.pathname === "/signup" || location.pathname === "/")
    navigate("/memories", true);
}

export function LoginForm({ next }: { next?: string }) {
  const session = useSession();
  const action = useAction();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  return (
    <form
      class="stack narrow"
      onSubmit={async (e) => {
        e.preventDefault();
        const ok = await action.run(() => api("POST", "/v1/auth/login", { email, password }));
        if (ok) {
          await session.refresh();
          afterLogin(next);
        }
      }}
    >
      <label>
        Email
        <input
          type="email"
          name="email"
          autoComplete="username"
          required
          value={email}
          onInput={(e) => setEmail((e.target as HTMLInputElement).value)}
        />
      </label>
      <label>
        Password
        <input
          type="password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
        />
      </label>
      <ErrorNote error={action.error} />
      <button type="submit" disabled={action.busy}>
        Log in
      </button>
    </form>
  );
}

export function SignupForm({ next, withWorkspace = true }: { next?: string; withWorkspace?: boolean }) {
  const session = useSession();
  const action = useAction();
  const [form, setForm] = useState({ email: "", password: "", name: "", workspace_name: "" });
  const bind = (k: keyof typeof form) => ({
    value: form[k],
    onInput: (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value }),
  });
  return (
    <form
      class="stack narrow"
      onSubmit={async (e) => {
        e.preventDefault();
        const answer = await action.run(() =>
          api<{ workspace: { id: string } | null }>("POST", "/v1/auth/signup", {
            email: form.email,
            password: form.password,
            ...(form.name.trim() ? { name: form.name.trim() } : {}),
            workspace: withWorkspace,
            ...(withWorkspace && form.workspace_name.trim()
              ? { workspace_name: form.workspace_name.trim() }
              : {}),
          }),
        );
        if (answer) {
          await session.refresh(answer.workspace?.id);
          afterLogin(next);
        }
      }}
    >
      <label>
        Email
        <input type="email" name="email" autoComplete="username" required {...bind("email")} />
      </label>
      <label>
        Password (at least 10 characters)
        <input
          type="password"
          name="password"
          autoComplete="new-password"
          required
          minLength={10}
          {...bind("password")}
        />
      </label>
      <label>
        Your name (optional)
        <input name="name" autoComplete="name" {...bind("name")} />
      </label>
      {withWorkspace && (
        <label>
          First workspace’s name
          <input name="workspace_name" placeholder="default" {...bind("workspace_name")} />
        </label>
      )}
      <ErrorNote error={action.error} />
      <button type="submit" disabled={action.busy}>
        Sign up
      </button>
    </form>
  );
}

export function LoginPage() {
  return (
    <Page title="Log in">
      <LoginForm />
      <p>
        No account? <a href="/signup">Sign up</a>.
      </p>
    </Page>
  );
}

export function SignupPage() {
  return (
    <Page title="Sign up">
      <SignupForm />
      <p>
        Have an account? <a href="/login">Log in</a>.
      </p>
    </Page>
  );
}
