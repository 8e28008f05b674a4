import { readFileSync } from "node:fs";
import type { ImportSummary } from "@tribalmemory/shared/service/portability";
import type { Command } from "commander";
import { ProgressBar } from "../progress.ts";
import { commandContext, fail, print, withApiKeyOption } from "./context.ts";

const COUNTS = ["total", "imported", "skipped", "overwritten", "merged", "duplicates", "errors"] as const;
/** What the chunks' summaries add up to. */
type ImportTotals = Pick<ImportSummary, (typeof COUNTS)[number]> & { error_details: string[] };
/** Lines per request: small enough for the import body limit, large enough to keep requests few. */
const CHUNK_LINES = 500;

/**
 * `tribalmemory import <file>`: a JSONL export or a bundle, sent in chunks with progress.
 * `--on-error abort` first runs the whole file as a dry run, so a bad line imports nothing.
 */
export function registerImportCommand(program: Command): void {
  withApiKeyOption(program.command("import"))
    .description("import a JSONL export or a TribalMemory bundle (.json)")
    .argument("<file>")
    .option("--conflict <mode>", "skip | overwrite | merge (for ids that already exist)", "skip")
    .option(
      "--on-error <mode>",
      "skip: import the good lines; abort: import nothing if any line is bad",
      "skip",
    )
    .option("--dry-run", "report what would happen, write nothing")
    .option("--json", "print the summary as JSON")
    .action(
      async (
        file: string,
        opts: { conflict: string; onError: string; dryRun?: boolean; json?: boolean; apiKey?: string },
      ) => {
        const { client } = commandContext(program, opts);
        const lines = toJsonlLines(readFileSync(file, "utf8"));
        const manifest = lines[0]?.startsWith('{"manifest"') ? lines.shift() : undefined;
        const totals: ImportTotals = {
          total: 0,
          imported: 0,
          skipped: 0,
          overwritten: 0,
          merged: 0,
          duplicates: 0,
          errors: 0,
          error_details: [],
        };
        const send = async (dryRun: boolean, bar: ProgressBar | null) => {
          for (let i = 0; i < lines.length; i += CHUNK_LINES) {
            const chunk = lines.slice(i, i + CHUNK_LINES);
            // Keep line numbers true to the file: blank lines pad the chunk's start.
            const body = `${manifest ? `${manifest}\n` : ""}${"\n".repeat(i)}${chunk.join("\n")}\n`;
            const qs = new URLSearchParams({
              conflict_resolution: opts.conflict,
              on_error: "skip",
              dry_run: String(dryRun),
            });
            const r = await client.call<ImportTotals>(
              "POST",
              `/v1/import?${qs}`,
              body,
              "application/x-ndjson",
            );
            if (!dryRun || opts.dryRun) for (const k of COUNTS) totals[k] += r[k];
            totals.error_details.push(...r.error_details);
            bar?.update(Math.min(i + CHUNK_LINES, lines.length));
          }
        };
        if (opts.onError === "abort" && !opts.dryRun) {
          await send(true, null);
          if (totals.error_details.length) {
            for (const d of totals.error_details.slice(0, 20)) process.stderr.write(`  ${d}\n`);
            fail(`nothing imported: ${totals.error_details.length} bad line(s) (--on-error abort)`);
          }
          totals.error_details = [];
        }
        const bar =
          process.stderr.isTTY || process.env.TRIBAL_MEMORY_PROGRESS
            ? new ProgressBar("importing", lines.length)
            : null;
        await send(opts.dryRun === true, bar);
        bar?.done();
        if (opts.json) return print(totals);
        print(
          `${opts.dryRun ? "would import" : "imported"} ${totals.imported} of ${totals.total}; skipped ${totals.skipped} (${totals.duplicates} duplicates), overwritten ${totals.overwritten}, merged ${totals.merged}, errors ${totals.errors}`,
        );
        for (const d of totals.error_details.slice(0, 20)) process.stderr.write(`  ${d}\n`);
      },
    );
}

/** A bundle (.json) becomes JSONL lines; JSONL stays as it is. */
export function toJsonlLines(text: string): string[] {
  const trimmed = text.trimStart();
  const firstLine = trimmed.slice(0, trimmed.indexOf("\n") + 1 || undefined).trim();
  if (trimmed.startsWith("{") && !firstLine.endsWith("}")) {
    const parsed = JSON.parse(text) as {
      manifest?: unknown;
      entries?: unknown[];
      bundle?: { manifest: unknown; entries: unknown[] };
    };
    const bundle = parsed.bundle ?? parsed;
    return [
      JSON.stringify({ manifest: bundle.manifest }),
      ...(bundle.entries ?? []).map((e) => JSON.stringify(e)),
    ];
  }
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
