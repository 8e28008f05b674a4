import { initializeGlobalHookRunner, resetGlobalHookRunner } from "openclaw/plugin-sdk/hook-runtime";
import type {
  AnyAgentTool,
  OpenClawPluginApi,
  OpenClawPluginDefinition,
  OpenClawPluginToolContext,
} from "openclaw/plugin-sdk/plugin-entry";
import {
  clearPluginCommands,
  executePluginCommand,
  getGlobalHookRunner,
  matchPluginCommand,
  registerPluginCommand,
} from "openclaw/plugin-sdk/plugin-runtime";

/**
 * A plugin registered the way OpenClaw's loader registers it, for tests: `register(api)` with
 * the plugin's config, its typed hooks handed to OpenClaw's own hook runner (the one the
 * Gateway's agent runners call: merging, priorities, error policy), its commands to OpenClaw's
 * command registry and dispatcher, its tool factories called with a tool context. The loader
 * itself (manifest, config schema, module loading) is exercised by running the real
 * `openclaw plugins inspect` (test/openclaw/loader.test.ts); it is not a published API.
 *
 * Any API the plugin calls that is not provided here throws, so a test notices a new
 * registration instead of silently dropping it.
 */
type Registry = Parameters<typeof initializeGlobalHookRunner>[0];
type ToolRegistration = Parameters<OpenClawPluginApi["registerTool"]>[0];

export interface Logged {
  level: "info" | "warn" | "error" | "debug";
  message: string;
}

export interface PluginHost {
  hooks: () => ReturnType<typeof getGlobalHookRunner> & {};
  hookNames: string[];
  commandNames: string[];
  tools: (ctx: OpenClawPluginToolContext) => AnyAgentTool[];
  tool: (name: string, ctx: OpenClawPluginToolContext) => AnyAgentTool;
  /** `/remember …` as a chat message: matched and executed by OpenClaw's command runtime. */
  command: (body: string, ctx?: { agentId?: string; sessionKey?: string }) => Promise<{ text?: string }>;
  logs: Logged[];
  close: () => void;
}

export function loadPluginForTest(entry: OpenClawPluginDefinition, pluginConfig: unknown): PluginHost {
  const id = entry.id ?? "plugin";
  const typedHooks: Registry["typedHooks"] = [];
  const toolFactories: ToolRegistration[] = [];
  const commandNames: string[] = [];
  const logs: Logged[] = [];
  const log = (level: Logged["level"]) => (message: string) => logs.push({ level, message });
  clearPluginCommands();

  const provided: Partial<OpenClawPluginApi> = {
    id,
    name: entry.name ?? id,
    source: "test",
    registrationMode: "full",
    config: {},
    pluginConfig: pluginConfig as Record<string, unknown>,
    logger: { info: log("info"), warn: log("warn"), error: log("error"), debug: log("debug") },
    registerTool: (tool) => void toolFactories.push(tool),
    registerCommand: (command) => {
      const result = registerPluginCommand(id, command);
      if (!result.ok) throw new Error(`OpenClaw refused command /${command.name}: ${JSON.stringify(result)}`);
      commandNames.push(command.name);
    },
    on: (hookName, handler, opts) =>
      void typedHooks.push({
        pluginId: id,
        hookName,
        handler,
        source: "test",
        ...opts,
      } as Registry["typedHooks"][number]),
  };
  const api = new Proxy(provided as OpenClawPluginApi, {
    get(target, prop) {
      if (prop in target) return target[prop as keyof OpenClawPluginApi];
      throw new Error(`the plugin called api.${String(prop)}, which this test host does not provide`);
    },
  });
  if (!entry.register) throw new Error(`plugin ${id} has no register()`);
  void entry.register(api);
  initializeGlobalHookRunner({ hooks: [], typedHooks, plugins: [{ id, status: "loaded" }] });

  const tools = (ctx: OpenClawPluginToolContext): AnyAgentTool[] =>
    toolFactories.flatMap((t) => {
      const made = typeof t === "function" ? t(ctx) : "create" in t ? t.create(ctx as never) : t;
      return made ? (Array.isArray(made) ? made : [made]) : [];
    });
  return {
    hooks: () => {
      const runner = getGlobalHookRunner();
      if (!runner) throw new Error("OpenClaw's hook runner is not initialised");
      return runner;
    },
    hookNames: typedHooks.map((h) => h.hookName),
    commandNames,
    tools,
    tool: (name, ctx) => {
      const found = tools(ctx).find((t) => t.name === name);
      if (!found) throw new Error(`no tool ${name}`);
      return found;
    },
    command: async (body, ctx = {}) => {
      const match = matchPluginCommand(body);
      if (!match) throw new Error(`no plugin command matches ${JSON.stringify(body)}`);
      return executePluginCommand({
        command: match.command,
        args: match.args,
        commandBody: body,
        channel: "test",
        senderId: "test-user",
        isAuthorizedSender: true,
        config: {},
        ...ctx,
      });
    },
    logs,
    close: () => {
      resetGlobalHookRunner();
      clearPluginCommands();
    },
  };
}
