import type { Command } from "commander";
import { renderStats } from "../render.ts";
import { commandContext, print } from "./context.ts";

/** `tribalmemory stats`: counts by type, tag and instance. */
export function registerStatsCommand(program: Command): void {
  program
    .command("stats")
    .description("what the memory holds")
    .option("--json", "print the API response")
    .action(async (opts: { json?: boolean }) => {
      const { client } = commandContext(program);
      const r = await client.call<Record<string, unknown>>("GET", "/v1/stats");
      print(opts.json ? r : renderStats(r));
    });
}
