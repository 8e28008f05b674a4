import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Where the files the code starts or reads at runtime live, in the two shapes the product runs in:
 *
 * - the checkout: TypeScript sources that Node runs as they are (this file is
 *   `shared/src/config/install-layout.ts`, three folders below the repository root);
 * - the `tribalmemory` npm package (`cli/build.ts`): every module bundled into one flat `dist/`
 *   of `.js` files under the package root. Node refuses to strip types inside `node_modules`,
 *   so an installed package cannot run the sources.
 *
 * One rule per kind of file, so no caller keeps two copies of a path.
 */
const SELF = import.meta.url;

/** True when running from the package's bundle rather than from the sources. */
export const RUNNING_FROM_BUNDLE = SELF.endsWith(".js");

/** The repository root in a checkout; the package root (the folder above `dist/`) when bundled. */
export const INSTALL_ROOT = fileURLToPath(new URL(RUNNING_FROM_BUNDLE ? "../" : "../../../", SELF));

/**
 * A module the code starts by URL (a worker thread, an embedder a worker imports, a bin a
 * child process runs), given as its source URL, made from `import.meta.url` as usual.
 * From the bundle it is `dist/<name>.js`: the build makes every such module an entry point of that
 * name (entry names are unique across the workspace; the build checks).
 */
export function runtimeModuleUrl(source: URL): URL {
  if (!RUNNING_FROM_BUNDLE || !source.pathname.endsWith(".ts")) return source;
  return new URL(`./${basename(source.pathname).replace(/\.ts$/, ".js")}`, SELF);
}

/** `runtimeModuleUrl` as a file path (what `spawn(process.execPath, [path])` takes). */
export function runtimeModulePath(source: URL): string {
  return fileURLToPath(runtimeModuleUrl(source));
}

/**
 * A data file or folder read at runtime (`dashboard/dist/`, `shared/models/bge-small-en-v1.5/`),
 * named by its path from the repository root; the build copies it to the same path under the
 * package root.
 */
export function installFile(repoRelativePath: string): string {
  return join(INSTALL_ROOT, repoRelativePath);
}
