import type { RecallResponse as RecallSchema } from "@tribalmemory/shared/http/response-schemas";
import type { z } from "zod";

type RecallResponse = z.output<typeof RecallSchema>;

/** Recall results as a terminal table: score, id prefix, when, who, content (truncated). */
export function renderRecallTable(r: RecallResponse, width: number): string {
  const lines: string[] = [];
  const t = r.time_filter;
  if (t) {
    const period = `${t.after.slice(0, 10)} .. ${t.before.slice(0, 10)}`;
    lines.push(
      t.mode === "boost"
        ? `(time boost from "${t.phrase}": ${period} holds too few memories; those first, then the rest)`
        : `(time filter from "${t.phrase}": ${period})`,
    );
  }
  if (!r.results.length) {
    lines.push("nothing found");
    return lines.join("\n");
  }
  const contentWidth = Math.max(20, width - 50);
  lines.push(`${"score".padEnd(6)} ${"id".padEnd(8)} ${"created".padEnd(10)} ${"source".padEnd(18)} content`);
  for (const x of r.results) {
    const m = x.memory;
    // Session transcript hits (`sources: sessions | all`) carry a chunk, not a memory: --json shows them.
    if (!m) continue;
    const text = m.content.replace(/\s+/g, " ");
    lines.push(
      `${x.similarity_score.toFixed(2).padEnd(6)} ${m.id.slice(0, 8)} ${m.created_at.slice(0, 10)} ${m.source_instance.slice(0, 18).padEnd(18)} ${text.length > contentWidth ? `${text.slice(0, contentWidth - 1)}…` : text}${m.tags.length ? ` [${m.tags.join(", ")}]` : ""}`,
    );
  }
  lines.push(`${r.results.length} result(s) in ${r.total_time_ms} ms`);
  return lines.join("\n");
}

export function renderStats(s: Record<string, unknown>): string {
  const model = s.embedding_model as { model: string; dims: number } | null;
  const rows = [
    `memories          ${s.total_memories}`,
    `forgotten         ${s.deleted}`,
    `superseded        ${s.superseded}`,
    `embedding model   ${model ? `${model.model} (${model.dims} dims)` : "none"}`,
    `missing vectors   ${s.missing_embeddings}`,
    `storage           ${Math.round(Number(s.storage_bytes ?? 0) / 1024)} KiB`,
  ];
  const section = (title: string, obj: unknown) => {
    const entries = Object.entries((obj ?? {}) as Record<string, number>)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10);
    if (entries.length) rows.push(`${title}:`, ...entries.map(([k, v]) => `  ${k.padEnd(24)} ${v}`));
  };
  section("by source type", s.by_source_type);
  section("by instance", s.by_source_instance);
  section("top tags", s.by_tag);
  return rows.join("\n");
}
