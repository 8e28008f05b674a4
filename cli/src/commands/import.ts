import type { Command } from "commander";
import type { TribalClient } from "../client.ts";
import { uploadJsonl } from "../import-formats/jsonl-upload.ts";
import {
  formatPeerReport,
  PEER_FORMATS,
  readPeerFormat,
  runPeerImport,
} from "../import-formats/peer-import.ts";
import { openImportFile } from "../import-formats/read-source.ts";
import { ProgressBar } from "../progress.ts";
import { commandContext, fail, print, withApiKeyOption } from "./context.ts";

/**
 * `tribalmemory import <file>`: a JSONL export or a bundle, sent in chunks with progress.
 * `--from <format> <path>`: another memory tool's files (import-formats/), mapped to the same
 * lines. `--on-error abort` first runs the whole import as a dry run, so a bad line imports nothing.
 */
export function registerImportCommand(program: Command): void {
  withApiKeyOption(program.command("import"))
    .description(
      "import a JSONL export or a TribalMemory bundle (.json), or with --from another memory tool's files",
    )
    .argument("<path>", "the file (with --from claude-code or basic-memory, a folder too)")
    .option("--from <format>", `read another tool's memories: ${PEER_FORMATS.join(" | ")}`)
    .option("--project <name>", "with --from claude-code: the project to tag with (default: from the path)")
    .option("--conflict <mode>", "skip | overwrite | merge (for ids that already exist)", "skip")
    .option(
      "--on-error <mode>",
      "skip: import the good lines; abort: import nothing if any line is bad",
      "skip",
    )
    .option("--dry-run", "report what would happen, write nothing")
    .option("--json", "print the summary as JSON")
    .action(async (file: string, opts: ImportOptions) => {
      const { client } = commandContext(program, opts);
      if (opts.from) return importFromPeer(client, file, opts);
      const source = await openImportFile(file);
      const upload = { manifest: source.manifest, conflict: opts.conflict };
      if (opts.onError === "abort" && !opts.dryRun) {
        const check = await uploadJsonl(client, source.lines(), { ...upload, dryRun: true });
        abortOnBadLines(check.error_details);
      }
      // Counted only for a bar: from disk that is one more pass over the file.
      const bar = showsProgress() ? new ProgressBar("importing", await source.count()) : null;
      const totals = await uploadJsonl(client, source.lines(), {
        ...upload,
        dryRun: opts.dryRun === true,
        onProgress: (done) => bar?.update(done),
      });
      bar?.done();
      if (opts.json) return print(totals);
      print(
        `${opts.dryRun ? "would import" : "imported"} ${totals.imported} of ${totals.total}; skipped ${totals.skipped} (${totals.duplicates} duplicates), overwritten ${totals.overwritten}, merged ${totals.merged}, errors ${totals.errors}`,
      );
      for (const d of totals.error_details.slice(0, 20)) process.stderr.write(`  ${d}\n`);
    });
}

interface ImportOptions {
  from?: string;
  project?: string;
  conflict: string;
  onError: string;
  dryRun?: boolean;
  json?: boolean;
  apiKey?: string;
}

/** The whole source is read first (a malformed file throws IMPORT_INVALID with its line), then sent kind by kind. */
async function importFromPeer(client: TribalClient, path: string, opts: ImportOptions): Promise<void> {
  const format = opts.from as string;
  const source = readPeerFormat(format, path, { project: opts.project });
  if (opts.onError === "abort" && !opts.dryRun) {
    const check = await runPeerImport(client, format, source, { conflict: opts.conflict, dryRun: true });
    abortOnBadLines(check.totals.error_details);
  }
  const bar = progressBar(source.memories.length);
  const report = await runPeerImport(client, format, source, {
    conflict: opts.conflict,
    dryRun: opts.dryRun === true,
    onProgress: (done) => bar?.update(done),
  });
  bar?.done();
  if (opts.json) return print(report);
  print(formatPeerReport(report));
  for (const d of report.totals.error_details.slice(0, 20)) process.stderr.write(`  ${d}\n`);
}

function abortOnBadLines(details: string[]): void {
  if (!details.length) return;
  for (const d of details.slice(0, 20)) process.stderr.write(`  ${d}\n`);
  fail(`nothing imported: ${details.length} bad line(s) (--on-error abort)`);
}

function showsProgress(): boolean {
  return Boolean(process.stderr.isTTY || process.env.TRIBAL_MEMORY_PROGRESS);
}

function progressBar(total: number): ProgressBar | null {
  return showsProgress() ? new ProgressBar("importing", total) : null;
}
