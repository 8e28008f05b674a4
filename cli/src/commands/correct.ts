import type { Command } from "commander";
import { commandContext, print, withApiKeyOption } from "./context.ts";

/** `tribalmemory correct <id> <content…>`: a new memory that supersedes the old one. */
export function registerCorrectCommand(program: Command): void {
  withApiKeyOption(program.command("correct"))
    .description("correct a memory: the new one supersedes it")
    .argument("<memory_id>")
    .argument("<content...>", "the corrected fact")
    .option("--json", "print the API response")
    .action(async (id: string, words: string[], opts: { json?: boolean; apiKey?: string }) => {
      const { client } = commandContext(program, opts);
      const r = await client.call<{ memory_id: string }>("POST", "/v1/correct", {
        original_id: id,
        corrected_content: words.join(" "),
        source_instance: "cli",
      });
      print(opts.json ? r : `corrected: ${r.memory_id} supersedes ${id}`);
    });
}
