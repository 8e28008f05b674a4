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
    .option("--ttl <duration>", 'lifetime: seconds or "12h", "7d", "2w" (hidden, then forgotten, after)')
    .option("--expires-at <time>", "or: when it stops being true (ISO 8601)")
    .option("--json", "print the API response")
    .action(
      async (
        words: string[],
        opts: {
          tags?: string[];
          sourceType: string;
          instance?: string;
          context?: string;
          ttl?: string;
          expiresAt?: string;
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
            // Bare digits are seconds: sent as a number, as the API documents them.
            ttl: opts.ttl && /^\d+$/.test(opts.ttl) ? Number(opts.ttl) : opts.ttl,
            expires_at: opts.expiresAt,
          },
        );
        if (opts.json) return print(r);
        print(
          r.duplicate_of ? `already known as ${r.duplicate_of} (tags merged)` : `remembered ${r.memory_id}`,
        );
      },
    );
}
