import type { OpenClawPluginCommandDefinition } from "openclaw/plugin-sdk/plugin-entry";
import { errorCode, type MemoryTribal } from "./memory-tribal.ts";

/**
 * `/remember <fact>`: the user stores a memory without asking the model. Only authorized
 * senders may use it (OpenClaw's default for plugin commands); the reply says what happened
 * and, on failure, what to do.
 */
export function rememberCommand(plugin: MemoryTribal): OpenClawPluginCommandDefinition {
  return {
    name: "remember",
    description: "Store a fact in TribalMemory, shared with all your agents: /remember <fact>",
    acceptsArgs: true,
    async handler(ctx) {
      const content = ctx.args?.trim() ?? "";
      if (!content)
        return { text: "Usage: /remember <fact>, e.g. /remember we deploy on Fridays only before noon" };
      try {
        const outcome = await plugin.client.remember({
          content,
          source_type: "user_explicit",
          source_instance: plugin.instance(ctx.agentId),
          tags: ["openclaw"],
          context: { captured_by: "memory-tribal", via: "/remember", channel: ctx.channel },
        });
        return {
          text: outcome.duplicate_of
            ? `Already remembered (memory ${outcome.duplicate_of}).`
            : `Remembered (memory ${outcome.memory_id}).`,
        };
      } catch (err) {
        return { text: `Could not remember that: ${err instanceof Error ? err.message : errorCode(err)}` };
      }
    },
  };
}
