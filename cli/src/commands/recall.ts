import type { Command } from "commander";
import { renderRecallTable } from "../render.ts";
import { commandContext, csv, print, withApiKeyOption } from "./context.ts";

/** `tribalmemory recall <query…>`: search, as a table or as the API's JSON. */
export function registerRecallCommand(program: Command): void {
  withApiKeyOption(program.command("recall"))
    .description("find what is remembered about something")
    .argument("<query...>", "what to look for")
    .option("-n, --limit <n>", "results", (v) => Number.parseInt(v, 10), 5)
    .option("--min-relevance <x>", "0..1", Number.parseFloat)
    .option("-t, --tags <tags>", "only these tags", csv)
    .option("--instance <name>", "only memories from this source_instance")
    .option("--after <date>", "created on/after (ISO or words)")
    .option("--before <date>", "created before (ISO or words)")
    .option("--include-superseded", "show corrected memories too")
    .option("--json", "print the API response")
    .action(async (words: string[], opts: Record<string, unknown>) => {
      const { client } = commandContext(program, { apiKey: opts.apiKey as string | undefined });
      const r = await client.call<Parameters<typeof renderRecallTable>[0]>("POST", "/v1/recall", {
        query: words.join(" "),
        limit: opts.limit,
        min_relevance: opts.minRelevance,
        tags: opts.tags,
        source_instance: opts.instance,
        after: opts.after,
        before: opts.before,
        include_superseded: opts.includeSuperseded === true,
      });
      print(opts.json ? r : renderRecallTable(r, process.stdout.columns ?? 100));
    });
}
