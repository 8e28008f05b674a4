import { chmodSync, createWriteStream, renameSync, statSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { commandContext, csv, fail, withApiKeyOption } from "./context.ts";

/** `tribalmemory export`: stream the daemon's export to stdout or a file. */
export function registerExportCommand(program: Command): void {
  withApiKeyOption(program.command("export"))
    .description("export memories (JSONL by default; --format bundle for TribalMemory's JSON bundle)")
    .option("-o, --out <file>", "write to a file instead of stdout")
    .option("--format <format>", "jsonl | bundle", "jsonl")
    .option("-t, --tags <tags>", "only these tags", csv)
    .option("--include-embeddings", "include vectors")
    .option("--include-expired", "include memories past their expires_at (not yet swept)")
    .action(
      async (opts: {
        out?: string;
        format: string;
        tags?: string[];
        includeEmbeddings?: boolean;
        includeExpired?: boolean;
        apiKey?: string;
      }) => {
        const { client } = commandContext(program, opts);
        const qs = new URLSearchParams({ format: opts.format });
        if (opts.tags) qs.set("tags", opts.tags.join(","));
        if (opts.includeEmbeddings) qs.set("include_embeddings", "true");
        if (opts.includeExpired) qs.set("include_expired", "true");
        const kind = opts.out ? outputKind(opts.out) : null;
        const body = await client.stream("GET", `/v1/export?${qs}`);
        let lines = 0;
        const counted = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
            done(null, chunk);
          },
        });
        if (!opts.out) {
          // pipeline waits for the reader (a pager, a slow pipe): no export piles up in memory. A
          // reader that closes early (`| head`) ends the CLI quietly (tribalmemory.ts).
          await pipeline(body, counted, process.stdout, { end: false }).catch((err: Error) =>
            fail(`export interrupted: ${err.message}. Run it again.`),
          );
          return;
        }
        await toFile(opts.out, kind ?? "missing", body, counted);
        process.stderr.write(
          `exported ${opts.format === "jsonl" ? lines - 1 : "all"} memories to ${opts.out}\n`,
        );
      },
    );
}

type OutputKind = "file" | "special" | "missing";

/** What `-o` names, checked before the export is asked for: a folder is refused. */
function outputKind(out: string): OutputKind {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(out);
  } catch {
    return "missing"; // written beside, then renamed
  }
  if (stat.isDirectory()) fail(`${out} is a folder: name a file in it, e.g. ${join(out, "memories.jsonl")}.`);
  return stat.isFile() ? "file" : "special";
}

/**
 * Writes the export beside `out` and renames it into place once whole, so an export cut short
 * (the daemon stopped, the disk filled) never leaves a truncated file that looks like a backup,
 * nor replaces an earlier one. A FIFO or device (`-o /dev/stdout`) is written directly.
 */
async function toFile(out: string, kind: OutputKind, body: Readable, counted: Transform): Promise<void> {
  const target = kind === "special" ? out : join(dirname(out), `.${basename(out)}.${process.pid}.partial`);
  const sink: Writable = createWriteStream(target);
  try {
    await pipeline(body, counted, sink);
    // The file it replaces keeps its permissions (a backup kept private stays private).
    if (kind === "file") chmodSync(target, statSync(out).mode & 0o7777);
    if (target !== out) renameSync(target, out);
  } catch (err) {
    if (target !== out) {
      try {
        unlinkSync(target);
      } catch {
        // never created (an unwritable folder)
      }
    }
    const e = err as NodeJS.ErrnoException;
    const cause =
      e.code && e.syscall ? `cannot write ${out} (${e.code})` : `export interrupted: ${e.message}`;
    const left = {
      file: `${out} is unchanged`,
      missing: `${out} was not written`,
      special: `${out} got part of it`,
    };
    fail(`${cause}; ${left[kind]}. ${nextStep(e.code)}`);
  }
}

function nextStep(code: string | undefined): string {
  if (code === "ENOENT") return "Create its folder, or name another file.";
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") return "Name a file you may write.";
  if (code === "ENOSPC" || code === "EDQUOT") return "Free some disk space and run it again.";
  return "Run it again.";
}
