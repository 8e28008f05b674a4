import type { Command } from "commander";
import { commandContext, print, withApiKeyOption } from "./context.ts";

/** `tribalmemory forget <id>`: hide a memory everywhere. */
export function registerForgetCommand(program: Command): void {
  withApiKeyOption(program.command("forget"))
    .description("forget a memory (hidden everywhere)")
    .argument("<memory_id>")
    .action(async (id: string, opts: { apiKey?: string }) => {
      const { client } = commandContext(program, opts);
      await client.call("POST", "/v1/forget", { memory_id: id });
      print(`forgot ${id}`);
    });
}
