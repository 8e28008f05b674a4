/**
 * A browser-like client of the relay's account API for tests: it keeps the session cookie
 * it is given, sends the CSRF token it learnt on non-GET requests (unless told not to), and
 * names a workspace with `X-Tribal-Workspace` when asked.
 */
export interface AccountResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

export class AccountClient {
  cookie: string | null = null;
  csrf: string | null = null;

  readonly base: string;

  constructor(base: string) {
    this.base = base;
  }

  // biome-ignore lint/suspicious/noExplicitAny: tests read response bodies loosely
  async call<T = any>(
    method: string,
    path: string,
    body?: unknown,
    options: { workspace?: string; csrf?: string | null; bearer?: string; cookie?: boolean } = {},
  ): Promise<AccountResponse<T>> {
    const csrf = options.csrf === undefined ? this.csrf : options.csrf;
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...(this.cookie && options.cookie !== false ? { cookie: this.cookie } : {}),
        ...(csrf && method !== "GET" ? { "x-csrf-token": csrf } : {}),
        ...(options.workspace ? { "x-tribal-workspace": options.workspace } : {}),
        ...(options.bearer ? { authorization: `Bearer ${options.bearer}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const setCookie = res.headers.get("set-cookie");
    if (setCookie) {
      const pair = setCookie.split(";")[0];
      this.cookie = pair.endsWith("=") ? null : pair;
    }
    const text = await res.text();
    const parsed = (text ? JSON.parse(text) : null) as T;
    const token = (parsed as { csrf_token?: string } | null)?.csrf_token;
    if (token) this.csrf = token;
    return { status: res.status, body: parsed, headers: res.headers };
  }

  /** Sign up (with a first workspace unless `workspace: false`) and keep the session. */
  async signup(email: string, password = "correct horse battery", extra: Record<string, unknown> = {}) {
    const r = await this.call("POST", "/v1/auth/signup", { email, password, ...extra });
    if (r.status !== 201) throw new Error(`signup ${email}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as {
      user: { id: string; email: string };
      workspace: { id: string } | null;
      csrf_token: string;
    };
  }
}
