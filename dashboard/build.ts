/**
 * Builds the dashboard into dist/: one hashed script and one hashed stylesheet (served with a
 * year of caching) and index.html naming them (revalidated on every load). Run by `pnpm install`
 * (the package's `prepare`), so the two README commands and CI build it with no extra step.
 * No inline script or style anywhere: the servers' Content-Security-Policy forbids them.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = dirname(fileURLToPath(import.meta.url));
const entry = join(root, "src", "main.tsx");
const out = join(root, "dist");

// The Docker build installs from the manifests before the sources are copied; it builds later.
if (!existsSync(entry)) {
  console.log("[dashboard] no src/ yet: nothing to build");
  process.exit(0);
}

const esbuild = await import("esbuild");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });
const result = await esbuild.build({
  entryPoints: { app: entry },
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  entryNames: "assets/[name]-[hash]",
  assetNames: "assets/[name]-[hash]",
  outdir: out,
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const script = outputs.find((f) => f.endsWith(".js"));
const style = outputs.find((f) => f.endsWith(".css"));
if (!script || !style) throw new Error(`esbuild wrote ${outputs.join(", ")}: expected one .js and one .css`);

// `tribal-source` is filled in by the server that serves the page (shared/src/http/dashboard-static.ts).
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="tribal-source" content="">
<title>TribalMemory</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/${style}">
<script type="module" src="/assets/${script}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The TribalMemory dashboard needs JavaScript.</noscript>
</body>
</html>
`;
writeFileSync(join(out, "index.html"), html);

const size = (f: string) => {
  const bytes = readFileSync(join(out, "assets", f));
  return `${(bytes.length / 1024).toFixed(1)} KiB (${(gzipSync(bytes).length / 1024).toFixed(1)} KiB gzip)`;
};
console.log(`[dashboard] built dist/: ${script} ${size(script)}, ${style} ${size(style)}`);
