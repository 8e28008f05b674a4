/**
 * Builds the plugin's runtime entry, `dist/index.js` (`openclaw.runtimeExtensions` in
 * package.json): one ES module with zod bundled in and `openclaw/*` left to the host, so the
 * packed plugin has no dependencies for OpenClaw to install or scan. OpenClaw loads
 * `./index.ts` from a source folder (`plugins.load.paths`) and the built peer from an installed
 * package.
 *
 *   node openclaw-plugin/build.ts [--out DIR]      then: cd openclaw-plugin && npm pack
 */
import { builtinModules } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as esbuild from "esbuild";

const PLUGIN_DIR = dirname(fileURLToPath(import.meta.url));

export async function buildPlugin(
  outDir = join(PLUGIN_DIR, "dist"),
): Promise<{ file: string; bytes: number }> {
  const file = join(resolve(outDir), "index.js");
  const result = await esbuild.build({
    entryPoints: [join(PLUGIN_DIR, "index.ts")],
    outfile: file,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    external: ["openclaw", "openclaw/*", ...builtinModules, ...builtinModules.map((m) => `node:${m}`)],
    legalComments: "none",
    minify: true,
    metafile: true,
    logLevel: "warning",
  });
  return { file, bytes: result.metafile.outputs[Object.keys(result.metafile.outputs)[0]].bytes };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: "string" } } });
  const { file, bytes } = await buildPlugin(values.out);
  console.log(`${file}: ${(bytes / 1024).toFixed(1)} KiB`);
}
