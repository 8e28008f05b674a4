import { mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { buildPlugin } from "../../openclaw-plugin/build.ts";
import source from "../../openclaw-plugin/index.ts";
import { loadPluginForTest } from "../../openclaw-plugin/testing/host.ts";
import { tempHome } from "../helpers/daemon.ts";

/**
 * The built runtime entry (`openclaw.runtimeExtensions`, what an installed package runs) is the
 * same plugin as the source entry, and imports nothing but Node and the OpenClaw host.
 */
const PLUGIN_DIR = fileURLToPath(new URL("../../openclaw-plugin/", import.meta.url));
// Outside the plugin folder (the loader test loads it meanwhile), with the host's `openclaw`
// beside it, as an installed plugin's peer is.
const tmp = tempHome("tm-openclaw-build-");
const out = join(tmp.home, "dist");
mkdirSync(join(tmp.home, "node_modules"));
symlinkSync(join(PLUGIN_DIR, "node_modules", "openclaw"), join(tmp.home, "node_modules", "openclaw"));
afterAll(() => tmp.cleanup());

describe("memory-tribal's built entry", () => {
  it("bundles zod, leaves openclaw to the host, and registers what the source registers", async () => {
    const { file, bytes } = await buildPlugin(out);
    expect(bytes).toBeLessThan(600 * 1024);
    const imports = [...readFileSync(file, "utf8").matchAll(/from\s*"([^"]+)"/g)].map((m) => m[1]);
    expect(imports.filter((i) => !i.startsWith("node:") && !i.startsWith("openclaw/"))).toEqual([]);

    const built = (await import(pathToFileURL(file).href)).default;
    const describeHost = (entry: typeof source) => {
      const host = loadPluginForTest(entry, { serverUrl: "http://127.0.0.1:9" });
      try {
        return {
          id: entry.id,
          kind: entry.kind,
          hooks: host.hookNames,
          commands: host.commandNames,
          tools: host.tools({}).map((t) => ({ name: t.name, parameters: t.parameters })),
        };
      } finally {
        host.close();
      }
    };
    expect(describeHost(built)).toEqual(describeHost(source));
  });

  it("package.json points OpenClaw at the source entry and the built peer", () => {
    const pkg = JSON.parse(readFileSync(join(PLUGIN_DIR, "package.json"), "utf8"));
    expect(pkg.openclaw).toMatchObject({
      extensions: ["./index.ts"],
      runtimeExtensions: ["./dist/index.js"],
    });
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.peerDependencies).toHaveProperty("openclaw");
  });
});
