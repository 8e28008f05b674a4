import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { loadDaemonConfig } from "@tribalmemory/shared/config/config";
import type { Command } from "commander";
import { daemonUrl } from "../client.ts";
import { homeOf } from "../init/agent-setup.ts";
import { backupFile, writeFileAtomic } from "../init/config-files.ts";
import { daemonHealth } from "../service/daemon-process.ts";
import { serviceCommands, serviceUnit } from "../service/units.ts";

interface ServiceOpts {
  start?: boolean;
  platform?: NodeJS.Platform;
  json?: boolean;
}

/** `tribalmemory service install|uninstall|status`: run the daemon as a user service. */
export function registerServiceCommand(program: Command): void {
  const service = program
    .command("service")
    .description("run tribalmemoryd as a user service (systemd on Linux, launchd on macOS)");
  const unitFor = (opts: ServiceOpts) =>
    serviceUnit(process.env, homeOf(process.env), opts.platform ?? process.platform);
  const run = (argv: string[][]): { ok: boolean; output: string } => {
    let output = "";
    for (const [cmd, ...args] of argv) {
      const r = spawnSync(cmd, args, { encoding: "utf8" });
      output += `${r.stdout ?? ""}${r.stderr ?? ""}`;
      if (r.error || r.status !== 0)
        return { ok: false, output: `${cmd} ${args.join(" ")}: ${r.error?.message ?? output.trim()}` };
    }
    return { ok: true, output: output.trim() };
  };

  service
    .command("install")
    .description("write the service definition and start it")
    .option("--no-start", "only write the file")
    .addOption(hiddenPlatform(program))
    .action((opts: ServiceOpts) => {
      const unit = unitFor(opts);
      const current = existsSync(unit.path) ? readFileSync(unit.path, "utf8") : null;
      if (current === unit.content) {
        process.stdout.write(`unchanged  ${unit.path}\n`);
      } else {
        const backup = current === null ? null : backupFile(unit.path);
        writeFileAtomic(unit.path, unit.content, 0o644);
        process.stdout.write(
          `${current === null ? "created" : "updated"}    ${unit.path}${backup ? ` (backup: ${backup})` : ""}\n`,
        );
      }
      if (opts.start === false) return;
      const r = run(serviceCommands(unit).load);
      if (!r.ok) {
        process.stderr.write(
          `tribalmemory: the ${unit.kind} unit is written but did not start: ${r.output}\n`,
        );
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`started    ${unit.name} (${unit.kind})\n`);
    });

  service
    .command("uninstall")
    .description("stop the service and remove its definition")
    .option("--no-start", "only remove the file (do not call systemctl/launchctl)")
    .addOption(hiddenPlatform(program))
    .action((opts: ServiceOpts) => {
      const unit = unitFor(opts);
      if (!existsSync(unit.path)) return void process.stdout.write(`not installed (${unit.path})\n`);
      if (opts.start !== false) {
        const r = run(serviceCommands(unit).unload);
        if (!r.ok) process.stderr.write(`tribalmemory: could not stop ${unit.name}: ${r.output}\n`);
      }
      rmSync(unit.path);
      if (opts.start !== false && unit.kind === "systemd") run([["systemctl", "--user", "daemon-reload"]]);
      process.stdout.write(`removed    ${unit.path}\n`);
    });

  service
    .command("status")
    .description("is the service installed and running")
    .option("--json", "machine-readable")
    .addOption(hiddenPlatform(program))
    .action(async (opts: ServiceOpts) => {
      const unit = unitFor(opts);
      const installed = existsSync(unit.path);
      const manager = installed ? run(serviceCommands(unit).status) : null;
      const url = daemonUrl(loadDaemonConfig());
      const health = await daemonHealth(url);
      const report = {
        kind: unit.kind,
        path: unit.path,
        installed,
        manager_active: manager ? manager.ok : false,
        daemon: health ? { url, pid: health.pid, version: health.version } : null,
      };
      if (opts.json) return void process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      process.stdout.write(
        `${unit.kind} unit ${installed ? "installed" : "not installed"} (${unit.path})\n` +
          `service    ${report.manager_active ? "active" : "inactive"}\n` +
          `daemon     ${health ? `running at ${url} (pid ${health.pid})` : "not running"}\n`,
      );
      if (!installed) process.exitCode = 3;
    });
}

function hiddenPlatform(program: Command) {
  // Tests write a launchd plist on Linux and a systemd unit on macOS.
  return program.createOption("--platform <platform>", "linux | darwin").hideHelp();
}
