interface RecallResponse {
  results: {
    memory: { id: string; content: string; tags: string[]; source_instance: string; created_at: string };
    similarity_score: number;
  }[];
  time_filter: { phrase: string; after: string; before: string } | null;
  total_time_ms: number;
}

/** Recall results as a terminal table: score, id prefix, when, who, content (truncated). */
export function renderRecallTable(r: RecallResponse, width: number): string {
  const lines: string[] = [];
  if (r.time_filter)
    lines.push(
      `(time filter from "${r.time_filter.phrase}": ${r.time_filter.after.slice(0, 10)} .. ${r.time_filter.before.slice(0, 10)})`,
    );
  if (!r.results.length) {
    lines.push("nothing found");
    return lines.join("\n");
  }
  const contentWidth = Math.max(20, width - 50);
  lines.push(`${"score".padEnd(6)} ${"id".padEnd(8)} ${"created".padEnd(10)} ${"source".padEnd(18)} content`);
  for (const x of r.results) {
    const m = x.memory;
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
