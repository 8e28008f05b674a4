import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { gitRemoteOf, remoteInConfig } from "./git-remote.ts";
import { normaliseGitRemote, projectOfRoot } from "./project-roots.ts";

describe("normaliseGitRemote: one name per repository, whatever the clone URL", () => {
  it.each([
    ["git@github.com:Acme/API.git", "github.com/acme/api"],
    ["https://github.com/acme/api", "github.com/acme/api"],
    ["https://github.com/acme/api.git/", "github.com/acme/api"],
    ["https://ci-bot:s3cret@github.com/acme/api.git", "github.com/acme/api"],
    ["ssh://git@github.com:22/acme/api.git", "github.com/acme/api"],
    ["git://gitlab.example.org/group/sub/api.git", "gitlab.example.org/group/sub/api"],
    ["git@gitlab.example.org:group/sub/api.git", "gitlab.example.org/group/sub/api"],
  ])("%s → %s", (remote, project) => {
    expect(normaliseGitRemote(remote)).toBe(project);
  });

  it("gives null for a local path remote (the folder name serves instead)", () => {
    expect(normaliseGitRemote("/srv/git/api.git")).toBeNull();
    expect(normaliseGitRemote("file:///srv/git/api.git")).toBeNull();
  });
});

describe("remoteInConfig and gitRemoteOf", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("takes origin before other remotes, and the first remote without origin", () => {
    const both =
      '[core]\n\tbare = false\n[remote "upstream"]\n\turl = https://x/up\n[remote "origin"]\n\turl = https://x/own\n';
    expect(remoteInConfig(both)).toBe("https://x/own");
    expect(remoteInConfig('[remote "upstream"]\n\turl = https://x/up\n')).toBe("https://x/up");
    expect(remoteInConfig("[core]\n\tbare = false\n")).toBeNull();
  });

  it("finds the repository from a subfolder, and through a worktree's .git file", () => {
    dir = mkdtempSync(join(tmpdir(), "tm-git-remote-"));
    mkdirSync(join(dir, "main", ".git", "worktrees", "wt"), { recursive: true });
    writeFileSync(
      join(dir, "main", ".git", "config"),
      '[remote "origin"]\n\turl = git@github.com:acme/api.git\n',
    );
    mkdirSync(join(dir, "main", "src", "deep"), { recursive: true });
    expect(gitRemoteOf(join(dir, "main", "src", "deep"))).toBe("git@github.com:acme/api.git");

    writeFileSync(join(dir, "main", ".git", "worktrees", "wt", "commondir"), "../..\n");
    mkdirSync(join(dir, "wt"));
    writeFileSync(join(dir, "wt", ".git"), `gitdir: ${join(dir, "main", ".git", "worktrees", "wt")}\n`);
    expect(gitRemoteOf(join(dir, "wt"))).toBe("git@github.com:acme/api.git");
    expect(projectOfRoot(pathToFileURL(join(dir, "wt")).href, gitRemoteOf)).toBe("github.com/acme/api");
  });

  it("a root without a repository, or where folders are not readable here, is its folder name", () => {
    dir = mkdtempSync(join(tmpdir(), "tm-git-remote-"));
    mkdirSync(join(dir, "My Notes"));
    const uri = pathToFileURL(join(dir, "My Notes")).href;
    expect(projectOfRoot(uri, gitRemoteOf)).toBe("my notes");
    expect(projectOfRoot("file:///home/dev/src/Billing-Service/")).toBe("billing-service");
    expect(projectOfRoot("not a uri")).toBeNull();
  });
});
