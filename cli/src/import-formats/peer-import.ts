import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { TribalError } from "@tribalmemory/shared/errors";
import type { TribalClient } from "../client.ts";
import { BASIC_MEMORY_FORMAT, readBasicMemory } from "./basic-memory.ts";
import { CLAUDE_CODE_FORMAT, readClaudeCode } from "./claude-code.ts";
import { addTotals, emptyTotals, type ImportTotals, uploadJsonl } from "./jsonl-upload.ts";
import { MCP_MEMORY_FORMAT, readMcpMemory } from "./mcp-memory.ts";
import { MEM0_FORMAT, readMem0 } from "./mem0.ts";
import { type PeerImport, toImportEntry } from "./peer-memory.ts";
import { unreadableSource } from "./read-source.ts";
import { readTribalMemoryPython, TRIBALMEMORY_PYTHON_FORMAT } from "./tribalmemory-python.ts";

/**
 * `tribalmemory import --from <format> <path>`: read another memory tool's files, map them
 * (peer-memory.ts) to TribalMemory's import lines, and send them kind by kind so the summary
 * says what each kind added. The whole source is parsed before anything is sent: a malformed
 * file imports nothing.
 */

export interface ReadOptions {
  /** Claude Code: the project to tag with, instead of the one the path names. */
  project?: string;
}

const READERS: Record<string, (path: string, options: ReadOptions) => PeerImport> = {
  [MCP_MEMORY_FORMAT]: readMcpMemory,
  [CLAUDE_CODE_FORMAT]: readClaudeCode,
  [MEM0_FORMAT]: readMem0,
  [BASIC_MEMORY_FORMAT]: readBasicMemory,
  [TRIBALMEMORY_PYTHON_FORMAT]: readTribalMemoryPython,
};

export const PEER_FORMATS = Object.keys(READERS);

export interface KindCounts {
  found: number;
  imported: number;
  skipped: number;
  duplicates: number;
  errors: number;
}

export interface PeerImportReport {
  format: string;
  dry_run: boolean;
  files: number;
  /** Distinct entity names the imported facts are about. */
  entities: number;
  kinds: Record<string, KindCounts>;
  /** Sums over the kinds; error_details name the source file and line. */
  totals: ImportTotals;
}

/** Read `path` as `format`; IMPORT_INVALID (with the line) when it is not that format. */
export function readPeerFormat(format: string, path: string, options: ReadOptions = {}): PeerImport {
  const read = READERS[format];
  if (!read) {
    throw new TribalError(
      "VALIDATION_FAILED",
      `Unknown import format "${format}". Use one of: ${PEER_FORMATS.join(", ")} (or no --from for TribalMemory's own JSONL or bundle).`,
    );
  }
  if (!existsSync(path)) throw new TribalError("IMPORT_INVALID", `${path} does not exist. Check the path.`);
  // Absolute, so a project is named after a folder even for `import --from claude-code .`.
  try {
    return read(resolve(path), options);
  } catch (err) {
    throw unreadableSource(err, path);
  }
}

interface KindBatch {
  lines: string[];
  origins: string[];
}

/** The import lines of each kind, in the order kinds first appear, with where each came from. */
function batchesByKind(format: string, source: PeerImport): Map<string, KindBatch> {
  const byKind = new Map<string, KindBatch>();
  for (const m of source.memories) {
    const batch = byKind.get(m.kind) ?? { lines: [], origins: [] };
    byKind.set(m.kind, batch);
    batch.lines.push(JSON.stringify(toImportEntry(format, m)));
    batch.origins.push(m.origin);
  }
  return byKind;
}

/** `line N: …` from the daemon (N counts the manifest line) → `file:line: …` of the source. */
function withOrigins(details: string[], origins: string[], hasManifest: boolean): string[] {
  return details.map((d) => {
    const m = /^line (\d+): (.*)$/s.exec(d);
    const origin = m ? origins[Number(m[1]) - 1 - (hasManifest ? 1 : 0)] : undefined;
    return m && origin ? `${origin}: ${m[2]}` : d;
  });
}

export async function runPeerImport(
  client: TribalClient,
  format: string,
  source: PeerImport,
  options: { conflict: string; dryRun: boolean; onProgress?: (done: number, total: number) => void },
): Promise<PeerImportReport> {
  const manifest = source.manifest !== undefined ? JSON.stringify({ manifest: source.manifest }) : undefined;
  const report: PeerImportReport = {
    format,
    dry_run: options.dryRun,
    files: source.files ?? 1,
    entities: new Set(source.memories.flatMap((m) => m.entities.map((e) => e.trim().toLowerCase()))).size,
    kinds: {},
    totals: emptyTotals(),
  };
  let sent = 0;
  for (const [kind, batch] of batchesByKind(format, source)) {
    const base = sent;
    const t = await uploadJsonl(client, batch.lines, {
      manifest,
      conflict: options.conflict,
      dryRun: options.dryRun,
      onProgress: (done) => options.onProgress?.(base + done, source.memories.length),
    });
    sent += batch.lines.length;
    t.error_details = withOrigins(t.error_details, batch.origins, manifest !== undefined);
    report.kinds[kind] = {
      found: batch.lines.length,
      imported: t.imported,
      skipped: t.skipped,
      duplicates: t.duplicates,
      errors: t.errors,
    };
    addTotals(report.totals, t);
  }
  return report;
}

/** The report as the CLI prints it: a line of totals, then a row per kind. */
export function formatPeerReport(r: PeerImportReport): string {
  const t = r.totals;
  const head = `${r.format}: ${r.dry_run ? "would import" : "imported"} ${t.imported} of ${t.total} from ${r.files} file(s)${r.dry_run ? " (dry run: nothing written)" : ""}; skipped ${t.skipped} (${t.duplicates} duplicates), errors ${t.errors}${r.entities ? `; ${r.entities} entities named` : ""}`;
  const rows = Object.entries(r.kinds).map(
    ([kind, k]) =>
      `  ${kind.padEnd(12)} ${String(k.found).padStart(6)} ${String(k.imported).padStart(6)} ${String(k.skipped).padStart(8)} ${String(k.errors).padStart(7)}`,
  );
  const header = `  ${"kind".padEnd(12)} ${"found".padStart(6)} ${(r.dry_run ? "new" : "added").padStart(6)} ${"skipped".padStart(8)} ${"errors".padStart(7)}`;
  return [head, header, ...rows].join("\n");
}
