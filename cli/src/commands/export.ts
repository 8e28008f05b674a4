import { createWriteStream } from "node:fs";
import type { Command } from "commander";
import { commandContext, csv, withApiKeyOption } from "./context.ts";

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
        const body = await client.stream("GET", `/v1/export?${qs}`);
        const sink = opts.out ? createWriteStream(opts.out) : process.stdout;
        let lines = 0;
        for await (const chunk of body) {
          lines += (chunk as Buffer).toString("utf8").split("\n").length - 1;
          sink.write(chunk);
        }
        if (opts.out) {
          await new Promise<void>((r) => (sink as ReturnType<typeof createWriteStream>).end(r));
          process.stderr.write(
            `exported ${opts.format === "jsonl" ? lines - 1 : "all"} memories to ${opts.out}\n`,
          );
        }
      },
    );
}
