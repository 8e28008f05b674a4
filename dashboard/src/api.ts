/**
 * The one HTTP client of the page: same-origin fetches to the server that served it. On the
 * relay the login session travels in its HttpOnly cookie (never in a URL or in script-readable
 * storage); non-GET requests send the session's CSRF token, and workspace routes name the
 * workspace in `X-Tribal-Workspace`. On the daemon no credential is needed: it answers loopback
 * pages of its own origin (daemon/src/http/local-guard.ts).
 */

export type Source = "daemon" | "relay";

/** Written into index.html by the server that serves it (shared/src/http/dashboard-static.ts). */
export const SOURCE: Source =
  document.querySelector('meta[name="tribal-source"]')?.getAttribute("content") === "relay"
    ? "relay"
    : "daemon";

/** A refusal with the server's stable code and its message, which says what to do. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let csrfToken: string | null = null;
let workspaceId: string | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function setWorkspace(id: string | null): void {
  workspaceId = id;
}

export async function api<T>(
  method: "GET" | "POST" | "PATCH" | "DELETE",
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (SOURCE === "relay") {
    if (method !== "GET" && csrfToken) headers["x-csrf-token"] = csrfToken;
    if (workspaceId) headers["x-tribal-workspace"] = workspaceId;
  }
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "NETWORK", "The server did not answer. Is it running? Reload the page to retry.");
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(
      res.status,
      "BAD_RESPONSE",
      `The server answered ${res.status} with something that is not JSON.`,
    );
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })
      ?.error;
    throw new ApiError(
      res.status,
      e?.code ?? `HTTP_${res.status}`,
      e?.message ?? `Request failed (${res.status}).`,
      e?.details,
    );
  }
  return json as T;
}

/** `?a=1&b=2` from the entries that have a value. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}
