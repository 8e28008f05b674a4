import { join } from "node:path";
import { tribalHome } from "@tribalmemory/shared/config/config";
import { DAEMON_ENTRY } from "./daemon-process.ts";

/** A user-level service definition for tribalmemoryd: a systemd user unit or a launchd agent. */
export interface ServiceUnit {
  kind: "systemd" | "launchd";
  name: string;
  path: string;
  content: string;
}

export const SYSTEMD_UNIT = "tribalmemoryd.service";
export const LAUNCHD_LABEL = "com.tribalmemory.daemon";

export function serviceUnit(
  env: NodeJS.ProcessEnv,
  home: string,
  platform: NodeJS.Platform = process.platform,
): ServiceUnit {
  const program = [process.execPath, DAEMON_ENTRY];
  const vars: Record<string, string> = {};
  if (env.TRIBAL_MEMORY_HOME) vars.TRIBAL_MEMORY_HOME = tribalHome(env);
  if (platform === "darwin") {
    const log = join(tribalHome(env), "data", "daemon.log");
    const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    const content = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${program.map((p) => `    <string>${xml(p)}</string>`).join("\n")}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
${Object.entries(vars)
  .map(([k, v]) => `    <key>${k}</key><string>${xml(v)}</string>`)
  .join("\n")}
  </dict>
  <key>RunAtLoad</key><true/>
  <!-- Restart after a crash, not after a clean stop or "already running" (exit 3). -->
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
  <key>ThrottleInterval</key><integer>5</integer>
  <key>StandardOutPath</key><string>${xml(log)}</string>
  <key>StandardErrorPath</key><string>${xml(log)}</string>
</dict>
</plist>
`;
    return {
      kind: "launchd",
      name: LAUNCHD_LABEL,
      path: join(home, "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`),
      content,
    };
  }
  const quote = (s: string) => (/[\s"\\]/.test(s) ? `"${s.replace(/(["\\])/g, "\\$1")}"` : s);
  const content = `[Unit]
Description=TribalMemory daemon: one memory shared by the agents on this machine
After=network-online.target

[Service]
Type=simple
ExecStart=${program.map(quote).join(" ")}
${Object.entries(vars)
  .map(([k, v]) => `Environment=${quote(`${k}=${v}`)}\n`)
  .join("")}Restart=on-failure
RestartSec=3
# 3: another daemon holds the data folder; 4: port in use. Restarting cannot fix either.
RestartPreventExitStatus=3 4

[Install]
WantedBy=default.target
`;
  return {
    kind: "systemd",
    name: SYSTEMD_UNIT,
    path: join(env.XDG_CONFIG_HOME ?? join(home, ".config"), "systemd", "user", SYSTEMD_UNIT),
    content,
  };
}

/** The commands that load, unload and query the unit (run unless --no-start). */
export function serviceCommands(
  unit: ServiceUnit,
  uid = process.getuid?.() ?? 0,
): Record<"load" | "unload" | "status", string[][]> {
  if (unit.kind === "launchd") {
    return {
      load: [["launchctl", "bootstrap", `gui/${uid}`, unit.path]],
      unload: [["launchctl", "bootout", `gui/${uid}/${unit.name}`]],
      status: [["launchctl", "print", `gui/${uid}/${unit.name}`]],
    };
  }
  return {
    load: [
      ["systemctl", "--user", "daemon-reload"],
      ["systemctl", "--user", "enable", "--now", unit.name],
    ],
    unload: [
      ["systemctl", "--user", "disable", "--now", unit.name],
      ["systemctl", "--user", "daemon-reload"],
    ],
    status: [["systemctl", "--user", "is-active", unit.name]],
  };
}
