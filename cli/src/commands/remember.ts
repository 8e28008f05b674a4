import type { Command } from "commander";
import { commandContext, csv, print, withApiKeyOption } from "./context.ts";

/** `tribalmemory remember <content…>`: store a fact. */
export function registerRememberCommand(program: Command): void {
  withApiKeyOption(program.command("remember"))
    .description("remember a fact")
    .argument("<content...>", "what to remember")
    .option("-t, --tags <tags>", "comma-separated tags", csv)
    .option("--source-type <type>", "user_explicit | auto_capture | …", "user_explicit")
    .option("--instance <name>", "source_instance (which agent wrote it)")
    .option("--context <text>", "context of the capture")
    .option("--json", "print the API response")
    .action(
      async (
        words: string[],
        opts: {
          tags?: string[];
          sourceType: string;
          instance?: string;
          context?: string;
          json?: boolean;
          apiKey?: string;
        },
      ) => {
        const { client } = commandContext(program, opts);
        const r = await client.call<{ memory_id: string; duplicate_of: string | null }>(
          "POST",
          "/v1/remember",
          {
            content: words.join(" "),
            source_type: opts.sourceType,
            tags: opts.tags,
            source_instance: opts.instance ?? "cli",
            context: opts.context,
          },
        );
        if (opts.json) return print(r);
        print(
          r.duplicate_of ? `already known as ${r.duplicate_of} (tags merged)` : `remembered ${r.memory_id}`,
        );
      },
    );
}
