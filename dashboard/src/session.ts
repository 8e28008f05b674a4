/** Who is logged in to the relay, and which of their workspaces the pages act in. */
import { createContext } from "preact";
import { useContext } from "preact/hooks";

export interface User {
  id: string;
  email: string | null;
  name: string;
}

export interface WorkspaceInfo {
  id: string;
  name: string;
  role: "owner" | "admin" | "member" | "viewer";
}

export interface Me {
  user: User;
  workspaces: WorkspaceInfo[];
  csrf_token: string;
  expires_at: string;
}

export interface SessionState {
  me: Me | null;
  workspace: WorkspaceInfo | null;
  /** After login, signup, an accepted invitation or a new workspace: read /v1/auth/me again. */
  refresh: (selectWorkspace?: string) => Promise<void>;
  selectWorkspace: (id: string) => void;
  logout: () => Promise<void>;
}

export const Session = createContext<SessionState>({
  me: null,
  workspace: null,
  refresh: async () => undefined,
  selectWorkspace: () => undefined,
  logout: async () => undefined,
});

export const useSession = () => useContext(Session);

const ROLE_RANK = { viewer: 0, member: 1, admin: 2, owner: 3 } as const;

export function hasRole(workspace: WorkspaceInfo | null, role: keyof typeof ROLE_RANK): boolean {
  return workspace !== null && ROLE_RANK[workspace.role] >= ROLE_RANK[role];
}
