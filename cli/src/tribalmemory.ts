import { TRIBAL_MEMORY_VERSION } from "@tribalmemory/shared/config/paths";
import { TribalError } from "@tribalmemory/shared/errors";
import { Command } from "commander";
import { ApiError } from "./client.ts";
import { fail } from "./commands/context.ts";
import { registerCorrectCommand } from "./commands/correct.ts";
import { registerDaemonCommand } from "./commands/daemon.ts";
import { registerExportCommand } from "./commands/export.ts";
import { registerForgetCommand } from "./commands/forget.ts";
import { registerImportCommand } from "./commands/import.ts";
import { registerInitCommand } from "./commands/init.ts";
import { registerKeysCommand } from "./commands/keys.ts";
import { registerModelsCommand } from "./commands/models.ts";
import { registerRecallCommand } from "./commands/recall.ts";
import { registerRelayCommand } from "./commands/relay.ts";
import { registerRememberCommand } from "./commands/remember.ts";
import { registerServiceCommand } from "./commands/service.ts";
import { registerStatsCommand } from "./commands/stats.ts";
import { registerSyncCommand } from "./commands/sync.ts";

// A reader that closes early (`tribalmemory recall --json | head`) has what it wanted: end
// quietly, as Unix tools do, rather than with an unhandled EPIPE's stack.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

/** `tribalmemory`: the command line; each command lives in commands/<name>.ts. */
const program = new Command("tribalmemory")
  .description("TribalMemory: one memory shared by every agent on your machines")
  .version(TRIBAL_MEMORY_VERSION)
  .option(
    "--url <url>",
    "daemon URL, or a relay's with a memory command's --api-key (env TRIBAL_MEMORY_URL; default: the running daemon)",
  )
  .option("-d, --data-dir <dir>", "data folder (default ~/.tribal-memory/data)")
  .option("-c, --config <file>", "config file (default ~/.tribal-memory/config.yaml)");

registerDaemonCommand(program);
registerRememberCommand(program);
registerRecallCommand(program);
registerCorrectCommand(program);
registerForgetCommand(program);
registerStatsCommand(program);
registerExportCommand(program);
registerImportCommand(program);
registerInitCommand(program);
registerServiceCommand(program);
registerRelayCommand(program);
registerKeysCommand(program);
registerModelsCommand(program);
registerSyncCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // A coded failure before any request (CONFIG_INVALID …) is a message too, not a stack.
  if (err instanceof ApiError || err instanceof TribalError) fail(`${err.code}: ${err.message}`);
  throw err;
}
