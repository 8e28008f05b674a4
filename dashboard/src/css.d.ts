/** esbuild bundles imported stylesheets into the hashed app-*.css (build.ts). */
declare module "*.css";
