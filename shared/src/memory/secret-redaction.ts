/**
 * Secrets never become memories: API keys, private keys, cloud credentials and tokens in
 * content are replaced with `[REDACTED:<kind>]` before the content is stored, embedded or
 * written into a change that syncs to every replica (where a later forget would not reach
 * the copies). Agents paste shell output and config files into memory, and those carry keys.
 *
 * Each pattern matches a shape that ordinary text does not have: a vendor prefix
 * (`AKIA`, `ghp_`, `sk-ant-`, `xoxb-`, `AIza`, `tm_live_` …), a PEM block, a JWT's two
 * `eyJ` segments, or a secret-looking value after a secret-looking name (`password=`,
 * `api_key:`, `Bearer`, `user:pass@`). Bare high-entropy strings are left alone on purpose:
 * UUIDs, git SHAs and base64 file hashes are everyday content in an engineering memory.
 * Where a name precedes the value, only the value is replaced, so the memory still says
 * which credential was there.
 *
 * Patterns are linear (no nested quantifiers), so a 1 MiB body costs milliseconds.
 */

export type SecretKind =
  | "private_key"
  | "jwt"
  | "aws_access_key"
  | "aws_secret_key"
  | "github_token"
  | "anthropic_key"
  | "openai_key"
  | "slack_token"
  | "slack_webhook"
  | "google_api_key"
  | "stripe_key"
  | "azure_storage_key"
  | "tribalmemory_key"
  | "url_password"
  | "bearer_token"
  | "basic_auth"
  | "password";

export interface RedactionCount {
  kind: SecretKind;
  count: number;
}

export interface RedactionResult {
  text: string;
  /** One entry per kind found, in the order of SECRET_PATTERNS; empty when nothing was. */
  redacted: RedactionCount[];
}

interface SecretPattern {
  kind: SecretKind;
  /** Global regex. With a `value` group, only that group is replaced (the name before it stays). */
  re: RegExp;
  /** Extra check on the matched secret, for shapes prose can share (hyphenated words, `Bearer`). */
  accept?: (secret: string) => boolean;
}

/** A token that looks generated: has a digit and a letter, or is long and mixed-case. */
function looksGenerated(s: string): boolean {
  const digit = /[0-9]/.test(s);
  const lower = /[a-z]/.test(s);
  const upper = /[A-Z]/.test(s);
  return (digit && (lower || upper)) || (lower && upper && s.length >= 24);
}

/** Values that name a secret instead of holding one: `${DB_PASSWORD}`, `<token>`, `****`. */
function isPlaceholder(v: string): boolean {
  return (
    /^(?:\$|<|\{|%|\[REDACTED)/.test(v) ||
    /^(?:[*x.•]+|null|none|nil|true|false|undefined|changeme|redacted|secret|password|example)$/i.test(v)
  );
}

/**
 * Order matters: whole blocks first (a PEM block holds base64 the later patterns could
 * half-match), vendor prefixes next, name=value assignments last, so `api_key=sk-…` is
 * reported as an OpenAI key and the assignment then sees `[REDACTED:…]` and skips it.
 */
export const SECRET_PATTERNS: readonly SecretPattern[] = [
  {
    kind: "private_key",
    // An unterminated block (a paste cut short) is redacted to the end of the text.
    re: /-----BEGIN[A-Z ]{0,40} PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z ]{0,40} PRIVATE KEY(?: BLOCK)?-----|$)/g,
  },
  { kind: "jwt", re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/g },
  { kind: "aws_access_key", re: /\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|AIPA)[A-Z0-9]{16}\b/g },
  {
    kind: "aws_secret_key",
    // 40 base64 characters after a name that says AWS and secret; bare, they look like a SHA.
    re: /(?<name>aws[A-Za-z0-9_. -]{0,30}?secret[A-Za-z0-9_. -]{0,20}?["']?\s*[:=]\s*["']?)(?<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi,
  },
  {
    kind: "github_token",
    re: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{50,255})\b/g,
  },
  { kind: "anthropic_key", re: /\bsk-ant-[A-Za-z0-9_-]{20,}/g },
  {
    kind: "openai_key",
    re: /\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}/g,
    accept: (s) => looksGenerated(s.slice(3)),
  },
  { kind: "slack_token", re: /\bxox[abposre]-[A-Za-z0-9-]{10,}/g },
  {
    kind: "slack_webhook",
    re: /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]{20,}/g,
  },
  { kind: "google_api_key", re: /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g },
  { kind: "stripe_key", re: /\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}\b|\bwhsec_[0-9A-Za-z]{24,}\b/g },
  {
    kind: "azure_storage_key",
    re: /(?<name>\bAccountKey=)(?<value>[A-Za-z0-9+/]{40,}={0,2})/g,
  },
  { kind: "tribalmemory_key", re: /\btm_live_[A-Za-z0-9_-]{16,}/g },
  {
    kind: "url_password",
    // scheme://user:password@host — the user stays, the password goes.
    re: /(?<name>\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}:\/\/[^\s:/@]{1,100}:)(?<value>[^\s:/@]{1,200})(?=@)/g,
    accept: (s) => !isPlaceholder(s),
  },
  {
    kind: "bearer_token",
    re: /(?<name>\bBearer\s+)(?<value>[A-Za-z0-9._~+/-]{16,}=*)/g,
    accept: (s) => !isPlaceholder(s) && looksGenerated(s),
  },
  {
    kind: "basic_auth",
    re: /(?<name>\bAuthorization:\s*Basic\s+)(?<value>[A-Za-z0-9+/]{8,}={0,2})/gi,
  },
  {
    kind: "password",
    // `password=hunter2`, `"api_key": "…"`, `DB_PASSWORD: s3cr3t`, `client_secret = '…'`.
    // After `:` an unquoted value must look generated, so "Password: reset it monthly" stays.
    re: /(?<name>\b(?<key>[A-Za-z0-9_.-]{0,40}?(?:password|passwd|passphrase|pwd|secret|api[_-]?key|apikey|access[_-]?key|access[_-]?token|auth[_-]?token|refresh[_-]?token|client[_-]?secret|private[_-]?key|token))["']?\s*(?<sep>[:=])\s*(?<quote>["']?))(?<value>[^\s"'`,;&]{3,400})/gi,
  },
];

function acceptPassword(key: string, value: string, sep: string, quote: string): boolean {
  if (isPlaceholder(value)) return false;
  const name = key.toLowerCase();
  // PWD/OLDPWD are the shell's working folders, not passwords.
  if (name === "pwd" || name === "oldpwd") return false;
  // A bare `token` names many things (`max_token=512`); only a generated-looking value counts.
  if (name.endsWith("token") && !/(?:access|auth|refresh|api|bearer|session)[_-]?token$/.test(name))
    return looksGenerated(value) && value.length >= 16;
  if (sep === "=" || quote) return true;
  return looksGenerated(value) || /[^A-Za-z0-9]/.test(value);
}

/** Replace every secret in `text` with `[REDACTED:<kind>]` and count what was replaced. */
export function redactSecrets(text: string): RedactionResult {
  const counts = new Map<SecretKind, number>();
  let out = text;
  for (const p of SECRET_PATTERNS) {
    p.re.lastIndex = 0;
    if (!p.re.test(out)) continue;
    p.re.lastIndex = 0;
    out = out.replace(p.re, (...args) => {
      const match = args[0] as string;
      const last = args.at(-1);
      const groups = (typeof last === "object" ? last : undefined) as
        | Record<string, string | undefined>
        | undefined;
      const value = groups?.value;
      const secret = value ?? match;
      if (secret.startsWith("[REDACTED:")) return match;
      if (p.kind === "password") {
        if (!acceptPassword(groups?.key ?? "", secret, groups?.sep ?? "=", groups?.quote ?? "")) return match;
      } else if (p.accept && !p.accept(secret)) return match;
      counts.set(p.kind, (counts.get(p.kind) ?? 0) + 1);
      const marker = `[REDACTED:${p.kind}]`;
      return value === undefined ? marker : `${groups?.name ?? ""}${marker}`;
    });
  }
  return {
    text: out,
    redacted: SECRET_PATTERNS.filter((p) => counts.has(p.kind)).map((p) => ({
      kind: p.kind,
      count: counts.get(p.kind) as number,
    })),
  };
}

/** Add `more` into `into` (import and batch responses report one total). */
export function mergeRedactionCounts(into: RedactionCount[], more: readonly RedactionCount[]): void {
  for (const m of more) {
    const hit = into.find((x) => x.kind === m.kind);
    if (hit) hit.count += m.count;
    else into.push({ ...m });
  }
}
