import { loadDaemonConfig } from "@tribalmemory/shared/config/config";
import type { Command } from "commander";
import { TribalClient } from "../client.ts";
import { csv, print } from "./context.ts";

interface RelayAuth {
  relay?: string;
  apiKey?: string;
  /** The program's `-c/--config` (read with optsWithGlobals). */
  config?: string;
}

function relayClient(opts: RelayAuth): TribalClient {
  const config = loadDaemonConfig({ configPath: opts.config });
  const url = opts.relay ?? config.sync.cloudUrl;
  const key = opts.apiKey ?? config.sync.apiKey;
  if (!url || !key) {
    process.stderr.write(
      "tribalmemory keys: name the relay and an admin key (--relay, --api-key, or TRIBAL_MEMORY_CLOUD_URL/TRIBAL_MEMORY_API_KEY)\n",
    );
    process.exit(1);
  }
  return new TribalClient(url.replace(/\/$/, ""), key);
}

const withRelay = (cmd: Command) =>
  cmd
    .option("--relay <url>", "relay URL (default sync.cloud_url / TRIBAL_MEMORY_CLOUD_URL)")
    .option(
      "--api-key <key>",
      "an admin key of the workspace (default sync.api_key / TRIBAL_MEMORY_API_KEY)",
    );

/** `tribalmemory keys create|list|revoke`: API keys of the relay workspace of an admin key. */
export function registerKeysCommand(program: Command): void {
  const keys = program
    .command("keys")
    .description("manage the relay workspace's API keys (needs an admin key)");
  withRelay(keys.command("create"))
    .description("create a key; the secret is printed once")
    .option("--name <name>", "label", "key")
    .option("--scopes <list>", "read,write,admin", "read,write")
    .action(async (_o: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<RelayAuth & { name: string; scopes: string }>();
      const scopes = csv(opts.scopes);
      print(await relayClient(opts).call("POST", "/v1/auth/keys", { name: opts.name, scopes }));
    });
  withRelay(keys.command("list"))
    .description("list keys (prefix, scopes, last use, revocation)")
    .action(async (_o: unknown, cmd: Command) =>
      print(await relayClient(cmd.optsWithGlobals<RelayAuth>()).call("GET", "/v1/auth/keys")),
    );
  withRelay(keys.command("revoke"))
    .description("revoke a key at once")
    .argument("<id>", "key id (from keys list)")
    .action(async (id: string, _o: unknown, cmd: Command) =>
      print(await relayClient(cmd.optsWithGlobals<RelayAuth>()).call("DELETE", `/v1/auth/keys/${id}`)),
    );
}
