/**
 * The dashboard: one app for two data sources. Served by the daemon (the local store, no login:
 * the daemon answers loopback pages of its own origin) and by the relay (accounts: login,
 * workspaces, keys, members, usage, audit, billing). Which one is said by the page's
 * `tribal-source` meta, written in by the server.
 */
import { render } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { api, SOURCE, setCsrfToken, setWorkspace } from "./api.ts";
import { AuditPage } from "./pages/audit.tsx";
import { LoginPage, SignupPage } from "./pages/auth.tsx";
import { BillingPage } from "./pages/billing.tsx";
import { InvitePage } from "./pages/invite.tsx";
import { KeysPage } from "./pages/keys.tsx";
import { MembersPage } from "./pages/members.tsx";
import { MemoriesPage } from "./pages/memories.tsx";
import { MemoryPage } from "./pages/memory.tsx";
import { SessionsPage, SyncPage } from "./pages/sync.tsx";
import { UsagePage } from "./pages/usage.tsx";
import { WorkspacesPage } from "./pages/workspaces.tsx";
import { navigate, onLinkClick, usePath } from "./router.ts";
import { type Me, Session, type SessionState } from "./session.ts";
import { Loading } from "./ui.tsx";
import "./styles.css";

const DAEMON_NAV = [
  ["/memories", "Memories"],
  ["/sync", "Sync"],
  ["/sessions", "Sessions"],
] as const;

const RELAY_NAV = [
  ["/memories", "Memories"],
  ["/keys", "Keys"],
  ["/members", "Members"],
  ["/usage", "Usage"],
  ["/audit", "Audit log"],
  ["/billing", "Plan & billing"],
  ["/workspaces", "Workspaces"],
] as const;

/** The page for a path, or null when no page has it. */
function pageFor(path: string) {
  const memory = /^\/memories\/([^/]+)$/.exec(path);
  if (memory) return <MemoryPage id={decodeURIComponent(memory[1])} />;
  switch (path) {
    case "/":
    case "/memories":
      return <MemoriesPage />;
    case "/sync":
      return SOURCE === "daemon" ? <SyncPage /> : null;
    case "/sessions":
      return SOURCE === "daemon" ? <SessionsPage /> : null;
    case "/keys":
      return SOURCE === "relay" ? <KeysPage /> : null;
    case "/members":
      return SOURCE === "relay" ? <MembersPage /> : null;
    case "/usage":
      return SOURCE === "relay" ? <UsagePage /> : null;
    case "/audit":
      return SOURCE === "relay" ? <AuditPage /> : null;
    case "/billing":
      return SOURCE === "relay" ? <BillingPage /> : null;
    case "/workspaces":
      return SOURCE === "relay" ? <WorkspacesPage /> : null;
    case "/invite":
      return SOURCE === "relay" ? <InvitePage /> : null;
    default:
      return null;
  }
}

function NotFound() {
  return (
    <>
      <h1 tabIndex={-1}>Not found</h1>
      <p>
        No page here. <a href="/memories">Go to memories</a>.
      </p>
    </>
  );
}

function Nav({ items, path }: { items: readonly (readonly [string, string])[]; path: string }) {
  return (
    <nav aria-label="Pages">
      <ul>
        {items.map(([href, label]) => {
          const current =
            path === href || (href === "/memories" && (path === "/" || path.startsWith("/memories/")));
          return (
            <li key={href}>
              <a href={href} aria-current={current ? "page" : undefined}>
                {label}
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

function Shell({
  header,
  children,
}: {
  header: preact.ComponentChildren;
  children: preact.ComponentChildren;
}) {
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: one delegated handler turns link clicks into navigations
    // biome-ignore lint/a11y/useKeyWithClickEvents: links answer Enter themselves; this only sees their clicks
    <div class="shell" onClick={onLinkClick}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>{header}</header>
      <main id="main">{children}</main>
    </div>
  );
}

function DaemonApp() {
  const path = usePath();
  return (
    <Shell
      header={
        <>
          <p class="brand">
            TribalMemory <span class="muted">· this machine</span>
          </p>
          <Nav items={DAEMON_NAV} path={path} />
        </>
      }
    >
      {pageFor(path) ?? <NotFound />}
    </Shell>
  );
}

const WORKSPACE_KEY = "tribal.workspace";

function RelayApp() {
  const path = usePath();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [workspaceId, setWorkspaceId] = useState<string | null>(null);

  const choose = useCallback((next: Me | null, preferred?: string | null) => {
    setCsrfToken(next?.csrf_token ?? null);
    const ids = next?.workspaces.map((w) => w.id) ?? [];
    const wanted = preferred ?? localStorage.getItem(WORKSPACE_KEY);
    const id = wanted && ids.includes(wanted) ? wanted : (ids[0] ?? null);
    setWorkspace(id);
    setWorkspaceId(id);
    if (id) localStorage.setItem(WORKSPACE_KEY, id);
    setMe(next);
  }, []);

  const refresh = useCallback(
    async (select?: string) => {
      // 200 with or without a session, so a logged-out visit logs no failed request.
      const answer = await api<({ authenticated: true } & Me) | { authenticated: false }>(
        "GET",
        "/v1/auth/session",
      );
      choose(answer.authenticated ? answer : null, select);
    },
    [choose],
  );

  useEffect(() => {
    refresh().catch(() => choose(null));
  }, [refresh, choose]);

  const state: SessionState = {
    me: me ?? null,
    workspace: me?.workspaces.find((w) => w.id === workspaceId) ?? null,
    refresh,
    selectWorkspace: (id) => {
      if (me) choose(me, id);
    },
    logout: async () => {
      await api("POST", "/v1/auth/logout").catch(() => undefined);
      localStorage.removeItem(WORKSPACE_KEY);
      choose(null);
      navigate("/login");
    },
  };

  if (me === undefined) return <Loading what="your account" />;

  let body: preact.ComponentChildren;
  if (!me) {
    body = path === "/signup" ? <SignupPage /> : path === "/invite" ? <InvitePage /> : <LoginPage />;
  } else if (path === "/login" || path === "/signup") {
    queueMicrotask(() => navigate("/memories", true));
    body = null;
  } else if (!state.workspace && path !== "/invite" && path !== "/workspaces") {
    body = <WorkspacesPage />;
  } else {
    // Keyed by workspace: switching drops every page's state, so nothing of the last one shows.
    body = <div key={workspaceId ?? "none"}>{pageFor(path) ?? <NotFound />}</div>;
  }

  return (
    <Session.Provider value={state}>
      <Shell header={<RelayHeader path={path} state={state} />}>{body}</Shell>
    </Session.Provider>
  );
}

function RelayHeader({ path, state }: { path: string; state: SessionState }) {
  const { me, workspace } = state;
  return (
    <>
      <p class="brand">TribalMemory</p>
      {me ? (
        <>
          <Nav items={RELAY_NAV} path={path} />
          <div class="account">
            {me.workspaces.length > 0 && (
              <label>
                Workspace{" "}
                <select
                  value={workspace?.id ?? ""}
                  onChange={(e) => state.selectWorkspace((e.target as HTMLSelectElement).value)}
                >
                  {me.workspaces.map((w) => (
                    <option key={w.id} value={w.id}>
                      {w.name} ({w.role})
                    </option>
                  ))}
                </select>
              </label>
            )}
            <span class="muted">{me.user.email ?? me.user.name}</span>
            <button type="button" onClick={() => state.logout()}>
              Log out
            </button>
          </div>
        </>
      ) : (
        <nav aria-label="Account">
          <ul>
            <li>
              <a href="/login" aria-current={path === "/login" || path === "/" ? "page" : undefined}>
                Log in
              </a>
            </li>
            <li>
              <a href="/signup" aria-current={path === "/signup" ? "page" : undefined}>
                Sign up
              </a>
            </li>
          </ul>
        </nav>
      )}
    </>
  );
}

const root = document.getElementById("app");
if (root) render(SOURCE === "relay" ? <RelayApp /> : <DaemonApp />, root);
