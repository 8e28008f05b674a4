import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { parse as parseToml } from "smol-toml";

/**
 * Safe edits of other programs' config files: parse first (a file we cannot parse is never
 * written), back up before changing, write atomically keeping the file's mode, and leave a
 * differing entry alone unless `force`.
 */
export type MergeStatus = "created" | "updated" | "unchanged" | "kept" | "unparseable";

export interface MergeResult {
  path: string;
  status: MergeStatus;
  backup: string | null;
  message: string;
}

export const SERVER_KEY = "tribal-memory";

/** Equal as JSON: TOML parsers build null-prototype objects, which deep-equal calls different. */
function sameJson(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a ?? null)), JSON.parse(JSON.stringify(b ?? null)));
}

export interface McpEntry {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

/** The Streamable HTTP form (`init --mcp http`): the server's `/mcp` and the headers that authorise it. */
export interface McpHttpEntry {
  url: string;
  headers: Record<string, string>;
}

/** Copy `path` beside itself before it changes; returns the copy's path. */
/**
 * What an entry already in the file means for a merge: nothing to do when it is the same, kept
 * (without --force) when it differs; null when the merge should go on and write.
 */
function existingEntryOutcome(
  path: string,
  same: boolean,
  force: boolean,
  messages: { unchanged: string; kept: string },
): MergeResult | null {
  if (same) return { path, status: "unchanged", backup: null, message: messages.unchanged };
  if (!force) return { path, status: "kept", backup: null, message: messages.kept };
  return null;
}

const MCP_ENTRY_MESSAGES = {
  unchanged: "already configured",
  kept: "has a different tribal-memory entry; kept it (use --force to replace)",
};

export function backupFile(path: string, now = new Date()): string | null {
  if (!existsSync(path)) return null;
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
  let backup = `${path}.bak-${stamp}`;
  for (let i = 1; existsSync(backup); i++) backup = `${path}.bak-${stamp}-${i}`;
  copyFileSync(path, backup);
  return backup;
}

/** Write via a temporary file and rename, keeping the old file's permissions. */
export function writeFileAtomic(path: string, text: string, defaultMode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const mode = existsSync(path) ? statSync(path).mode & 0o777 : defaultMode;
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** `mcpServers["tribal-memory"]` in a JSON config (~/.claude.json, Claude Desktop's). */
export function mergeJsonMcpServer(
  path: string,
  entry: Record<string, unknown>,
  force: boolean,
): MergeResult {
  let root: Record<string, unknown> = {};
  const exists = existsSync(path);
  if (exists) {
    const text = readFileSync(path, "utf8");
    if (text.trim()) {
      try {
        const parsed = JSON.parse(text) as unknown;
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
          throw new Error("the top level is not an object");
        root = parsed as Record<string, unknown>;
      } catch (err) {
        return {
          path,
          status: "unparseable",
          backup: null,
          message: `not valid JSON (${(err as Error).message}); left untouched — fix it and run init again`,
        };
      }
    }
  }
  const servers = (root.mcpServers && typeof root.mcpServers === "object" ? root.mcpServers : {}) as Record<
    string,
    unknown
  >;
  const current = servers[SERVER_KEY];
  if (current !== undefined) {
    const stop = existingEntryOutcome(path, sameJson(current, entry), force, MCP_ENTRY_MESSAGES);
    if (stop) return stop;
  }
  const backup = backupFile(path);
  root.mcpServers = { ...servers, [SERVER_KEY]: entry };
  writeFileAtomic(path, `${JSON.stringify(root, null, 2)}\n`, 0o600);
  return {
    path,
    status: current === undefined ? "created" : "updated",
    backup,
    message: current === undefined ? "added tribal-memory" : "replaced tribal-memory",
  };
}

const TOML_HEADER =
  /^\s*\[\s*mcp_servers\s*\.\s*(?:"tribal-memory"|'tribal-memory'|tribal-memory)\s*(?:\.[^\]]*)?\]\s*(?:#.*)?$/;
const ANY_HEADER = /^\s*\[/;

/**
 * `[mcp_servers.tribal-memory]` in Codex's `~/.codex/config.toml`. Edited as text so the
 * user's comments and layout survive; the result is parsed again before it is written.
 */
export function mergeCodexToml(path: string, entry: McpEntry | McpHttpEntry, force: boolean): MergeResult {
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    return {
      path,
      status: "unparseable",
      backup: null,
      message: `not valid TOML (${(err as Error).message.split("\n")[0]}); left untouched`,
    };
  }
  const current = (doc.mcp_servers as Record<string, unknown> | undefined)?.[SERVER_KEY];
  // Codex names the HTTP form's keys `url` and `http_headers`.
  const wanted: Record<string, unknown> =
    "url" in entry
      ? { url: entry.url, http_headers: entry.headers }
      : {
          command: entry.command,
          args: entry.args,
          ...(entry.env && Object.keys(entry.env).length ? { env: entry.env } : {}),
        };
  if (current !== undefined) {
    const stop = existingEntryOutcome(path, sameJson(current, wanted), force, MCP_ENTRY_MESSAGES);
    if (stop) return stop;
  }
  // Drop our old section(s), keep every other line as it was.
  const kept: string[] = [];
  let inOurs = false;
  for (const line of text.split("\n")) {
    if (ANY_HEADER.test(line)) inOurs = TOML_HEADER.test(line);
    if (!inOurs) kept.push(line);
  }
  let body = kept.join("\n").replace(/\n+$/, "");
  const section = [
    `[mcp_servers.${SERVER_KEY}]`,
    ...Object.entries(wanted).map(([key, value]) => `${key} = ${tomlValue(value)}`),
  ].join("\n");
  body = `${body ? `${body}\n\n` : ""}${section}\n`;
  try {
    const check = parseToml(body) as { mcp_servers?: Record<string, unknown> };
    if (!sameJson(check.mcp_servers?.[SERVER_KEY], wanted)) throw new Error("entry did not round-trip");
  } catch (err) {
    return {
      path,
      status: "kept",
      backup: null,
      message: `could not merge safely (${(err as Error).message.split("\n")[0]}); add [mcp_servers.${SERVER_KEY}] by hand`,
    };
  }
  const backup = backupFile(path);
  writeFileAtomic(path, body, 0o600);
  return {
    path,
    status: current === undefined ? "created" : "updated",
    backup,
    message: current === undefined ? "added tribal-memory" : "replaced tribal-memory",
  };
}

const BLOCK_START = "<!-- tribal-memory:auto-capture -->";
const BLOCK_END = "<!-- /tribal-memory:auto-capture -->";

/** Add the instruction block to an agent's instruction file, once (replaced with `force`). */
export function mergeInstructionBlock(path: string, block: string, force: boolean): MergeResult {
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  const wrapped = `${BLOCK_START}\n${block.trim()}\n${BLOCK_END}`;
  const start = text.indexOf(BLOCK_START);
  const end = text.indexOf(BLOCK_END, start);
  if (start !== -1 && end !== -1) {
    const existing = text.slice(start, end + BLOCK_END.length);
    const stop = existingEntryOutcome(path, existing === wrapped, force, {
      unchanged: "instructions already present",
      kept: "has an edited tribal-memory block; kept it (use --force to replace)",
    });
    if (stop) return stop;
    const backup = backupFile(path);
    writeFileAtomic(path, text.slice(0, start) + wrapped + text.slice(end + BLOCK_END.length));
    return { path, status: "updated", backup, message: "replaced the instruction block" };
  }
  const backup = backupFile(path);
  const sep = text && !text.endsWith("\n\n") ? (text.endsWith("\n") ? "\n" : "\n\n") : "";
  writeFileAtomic(path, `${text}${sep}${wrapped}\n`);
  return { path, status: text ? "updated" : "created", backup, message: "added the instruction block" };
}

/** Set KEY=VALUE lines in a dotenv file (mode 600: it holds an API key). */
export function mergeDotEnv(path: string, values: Record<string, string>): MergeResult {
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  const lines = text ? text.replace(/\n$/, "").split("\n") : [];
  const seen = new Set<string>();
  const out = lines.map((line) => {
    const m = /^\s*(?:export\s+)?([A-Z0-9_]+)\s*=/.exec(line);
    if (m && values[m[1]] !== undefined) {
      seen.add(m[1]);
      return `${m[1]}=${values[m[1]]}`;
    }
    return line;
  });
  for (const [k, v] of Object.entries(values)) if (!seen.has(k)) out.push(`${k}=${v}`);
  const next = `${out.join("\n")}\n`;
  if (next === text) {
    chmodSync(path, 0o600);
    return { path, status: "unchanged", backup: null, message: "already set" };
  }
  const backup = backupFile(path);
  if (backup) chmodSync(backup, 0o600);
  writeFileAtomic(path, next, 0o600);
  chmodSync(path, 0o600);
  return {
    path,
    status: text ? "updated" : "created",
    backup,
    message: "stored the relay URL and API key (mode 600)",
  };
}

/** A string, a list of strings or a table of strings, as TOML (JSON strings are TOML strings). */
function tomlValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
  if (value && typeof value === "object") {
    const pairs = Object.entries(value as Record<string, string>).map(
      ([k, v]) => `${/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k)} = ${JSON.stringify(v)}`,
    );
    return `{ ${pairs.join(", ")} }`;
  }
  return JSON.stringify(value);
}
