import { posix } from "node:path";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { RootsListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

/**
 * The agent's current project, from the roots its MCP client announces (`roots/list`): the
 * first root's git remote, normalised (`github.com/acme/api`), else its folder name (`api`).
 * A client that declares the roots capability is asked once, on the first tool call that
 * needs it, and asked again after `notifications/roots/list_changed`.
 */
export interface ProjectSource {
  /** `extra`: the tool call being served; over HTTP the question travels on its response stream. */
  current(extra?: { requestId?: string | number; signal?: AbortSignal }): Promise<string | null>;
}

export interface ProjectRules {
  /** The git remote URL of a folder on this machine (git-remote.ts); absent where folders are not ours to read (the relay). */
  gitRemoteOf?: (dir: string) => string | null;
  /** When the client names no roots (stdio: the folder the agent started the server in). */
  fallback?: () => string | null;
}

/** How long a client may take to answer `roots/list` before the call goes on without a project. */
const ROOTS_TIMEOUT_MS = 5_000;
export const MAX_PROJECT_CHARS = 200;

export function clientProject(server: Server, rules: ProjectRules): ProjectSource {
  let cached: Promise<string | null> | null = null;
  server.setNotificationHandler(RootsListChangedNotificationSchema, async () => {
    cached = null;
  });
  const ask = async (extra?: { requestId?: string | number; signal?: AbortSignal }) => {
    if (server.getClientCapabilities()?.roots) {
      try {
        const { roots } = await server.listRoots(undefined, {
          timeout: ROOTS_TIMEOUT_MS,
          relatedRequestId: extra?.requestId,
          signal: extra?.signal,
        });
        for (const root of roots) {
          const project = projectOfRoot(root.uri, rules.gitRemoteOf);
          if (project) return project;
        }
      } catch {
        // A client that declared roots and did not answer: no project rather than a failed call.
        cached = null;
      }
    }
    return rules.fallback?.() ?? null;
  };
  return {
    current(extra) {
      cached ??= ask(extra);
      return cached;
    },
  };
}

/** A root's project: its git remote (when readable here), else the last segment of its path. */
export function projectOfRoot(uri: string, gitRemoteOf?: (dir: string) => string | null): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  const path = decodeURIComponent(url.pathname).replace(/\/+$/, "");
  if (url.protocol === "file:" && gitRemoteOf) {
    const remote = gitRemoteOf(fileUrlPath(url));
    const normalised = remote ? normaliseGitRemote(remote) : null;
    if (normalised) return normalised;
  }
  return folderProject(path);
}

/** The project of a folder path: its last segment, case-folded. */
export function folderProject(path: string): string | null {
  const name = posix.basename(path.replace(/\\/g, "/").replace(/\/+$/, "")).trim().toLowerCase();
  return name ? name.slice(0, MAX_PROJECT_CHARS) : null;
}

/**
 * One name per repository whatever the clone URL: `git@github.com:Acme/API.git`,
 * `https://user:token@github.com/acme/api` and `ssh://git@github.com:22/acme/api.git` are all
 * `github.com/acme/api`. Credentials and ports never survive (they would be stored on every
 * memory). A local path remote gives null (the folder name serves instead).
 */
export function normaliseGitRemote(remote: string): string | null {
  const text = remote.trim();
  let host: string;
  let path: string;
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/)(.+)$/.exec(text);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    host = scp[1];
    path = scp[2];
  } else {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return null;
    }
    if (url.protocol === "file:" || !url.hostname) return null;
    host = url.hostname;
    path = decodeURIComponent(url.pathname);
  }
  const clean = path
    .replace(/^\/+|\/+$/g, "")
    .replace(/\.git$/i, "")
    .replace(/^~[^/]*\//, "");
  if (!clean) return null;
  return `${host}/${clean}`.toLowerCase().slice(0, MAX_PROJECT_CHARS);
}

function fileUrlPath(url: URL): string {
  const path = decodeURIComponent(url.pathname);
  // file:///C:/src/api on Windows
  return /^\/[a-z]:\//i.test(path) ? path.slice(1) : path;
}
