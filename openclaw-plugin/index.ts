import { definePluginEntry } from "openclaw/plugin-sdk/plugin-entry";
import { parsePluginConfig } from "./src/config.ts";
import { MemoryTribal } from "./src/memory-tribal.ts";
import { rememberCommand } from "./src/remember-command.ts";
import { memoryTools, TOOL_NAMES } from "./src/tools.ts";

/**
 * memory-tribal: TribalMemory as OpenClaw's memory plugin. Before each prompt is built it adds
 * the memories relevant to the user's message (within token budgets); after each turn it stores
 * the durable facts the user stated; `/remember` and the tribal_* tools do the same on request.
 * It talks to the local daemon (its local token from the daemon's home) or, with `apiKey`, to a
 * relay.
 *
 * Auto-recall uses `before_prompt_build`, the hook OpenClaw 2026.9 runs before the agent's model
 * call (the older `before_agent_start` is gone from the typed hook catalog).
 */
export default definePluginEntry({
  id: "memory-tribal",
  name: "TribalMemory",
  description: "Shared memory for every agent: auto-recall, auto-capture, /remember and tribal_* tools",
  kind: "memory",
  register(api) {
    const plugin = new MemoryTribal(parsePluginConfig(api.pluginConfig), api.logger);

    api.registerTool((ctx) => memoryTools(plugin, ctx), { names: [...TOOL_NAMES] });
    api.registerCommand(rememberCommand(plugin));

    if (plugin.config.autoRecall) {
      api.on("before_prompt_build", async (event, ctx) => {
        const query = event.currentUserMessage ?? event.prompt;
        const sessionKey = ctx.sessionKey ?? ctx.sessionId ?? "main";
        // One turn keeps one key across prompt rebuilds and retries, so it is charged once.
        const turnKey = event.currentUserMessageId ?? ctx.runId ?? query;
        const context = await plugin.contextForTurn(query, { sessionKey, turnKey });
        return context ? { prependContext: context } : undefined;
      });
    }
    if (plugin.config.autoCapture) {
      api.on("agent_end", async (event, ctx) => {
        if (!event.success) return;
        await plugin.captureTurn(event.messages, {
          sessionKey: ctx.sessionKey ?? ctx.sessionId ?? "main",
          agentId: ctx.agentId,
        });
      });
    }
    api.on("session_end", (event, ctx) => {
      plugin.budget.endSession(event.sessionKey ?? ctx.sessionKey ?? event.sessionId);
    });
  },
});
