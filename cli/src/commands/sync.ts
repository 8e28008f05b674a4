import type { Command } from "commander";
import { commandContext } from "./context.ts";

/**
 * `tribalmemory sync status`: the daemon's sync state (cursor, outbox length, last error) and
 * its dead letters, the changes the relay refused for good.
 */
export function registerSyncCommand(program: Command): void {
  const sync = program.command("sync").description("sync with the relay");
  sync
    .command("status")
    .description("cursor, outbox length, connection state and last error of the daemon's sync client")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const { client } = commandContext(program);
      const s = await client.call<Record<string, unknown>>("GET", "/v1/sync/status");
      if (opts.json || !s.enabled) {
        process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        return;
      }
      const err = s.last_error as { code: string; message: string; at: string } | null;
      const dead = (s.dead_letters as
        | {
            count: number;
            recent: { hash: string; doc_id: string; code: string; message: string; at: string }[];
          }
        | undefined) ?? { count: 0, recent: [] };
      const lines = [
        `relay:        ${s.relay}`,
        `state:        ${s.state}`,
        `cursor:       ${s.cursor}`,
        `outbox:       ${s.outbox} change(s) waiting`,
        `last sync:    ${s.last_sync_at ?? "never"}`,
        `last error:   ${err ? `${err.code}: ${err.message} (${err.at})` : "none"}`,
        `dead letters: ${dead.count ? `${dead.count} change(s) the relay refused for good (not retried)` : "none"}`,
        ...dead.recent.map(
          (d) => `  ${d.at}  memory ${d.doc_id}  change ${d.hash.slice(0, 12)}  ${d.code}: ${d.message}`,
        ),
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}
