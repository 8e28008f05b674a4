import type { Command } from "commander";
import { renderStats } from "../render.ts";
import { commandContext, print, withApiKeyOption } from "./context.ts";

/** `tribalmemory stats`: counts by type, tag and instance. */
export function registerStatsCommand(program: Command): void {
  withApiKeyOption(program.command("stats"))
    .description("what the memory holds")
    .option("--json", "print the API response")
    .action(async (opts: { json?: boolean; apiKey?: string }) => {
      const { client } = commandContext(program, opts);
      const r = await client.call<Record<string, unknown>>("GET", "/v1/stats");
      print(opts.json ? r : renderStats(r));
    });
}
