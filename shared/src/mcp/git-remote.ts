import { readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/**
 * The remote URL of the git repository holding `dir` (`origin`, else the first remote), read
 * from its config file rather than by running git: no process per call, and no git needed.
 * Walks up to the repository's top; a `.git` file (worktree, submodule) points at the real
 * folder, whose `commondir` holds the shared config. Null when there is no repository or remote.
 */
export function gitRemoteOf(dir: string): string | null {
  let current = resolve(dir);
  for (let depth = 0; depth < 64; depth++) {
    const gitDir = gitDirAt(current);
    if (gitDir) return remoteInConfig(readText(join(commonDir(gitDir), "config")));
    const parent = dirname(current);
    if (parent === current) return null;
    current = parent;
  }
  return null;
}

function gitDirAt(dir: string): string | null {
  const dotGit = join(dir, ".git");
  try {
    if (statSync(dotGit).isDirectory()) return dotGit;
  } catch {
    return null;
  }
  const pointer = /^gitdir:\s*(.+)$/m.exec(readText(dotGit) ?? "");
  return pointer ? resolve(dir, pointer[1].trim()) : null;
}

function commonDir(gitDir: string): string {
  const common = readText(join(gitDir, "commondir"))?.trim();
  return common ? resolve(gitDir, common) : gitDir;
}

/** `[remote "origin"] url = …` from a git config file's text. */
export function remoteInConfig(config: string | null): string | null {
  if (!config) return null;
  const remotes = new Map<string, string>();
  let section: string | null = null;
  for (const line of config.split(/\r?\n/)) {
    const header = /^\s*\[\s*remote\s+"([^"]+)"\s*\]/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    if (/^\s*\[/.test(line)) {
      section = null;
      continue;
    }
    const url = /^\s*url\s*=\s*(.+?)\s*$/.exec(line);
    if (section && url && !remotes.has(section)) remotes.set(section, url[1].replace(/^"(.*)"$/, "$1"));
  }
  return remotes.get("origin") ?? remotes.values().next().value ?? null;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
