// Bundles the runtime with esbuild: an ES module (browser + Node) and a script-tag
// build that defines the global `WebDNN`, plus the test harness page script.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";

mkdirSync("dist", { recursive: true });
const common = {
  bundle: true,
  sourcemap: true,
  target: ["es2022"],
  external: ["node:*"],
  logLevel: "warning",
  legalComments: "none",
};
await Promise.all([
  build({ ...common, entryPoints: ["src/index.ts"], format: "esm", outfile: "dist/webdnn.mjs" }),
  // The script-tag build has no import.meta: the wasm backend falls back to document.currentScript.
  build({ ...common, entryPoints: ["src/index.ts"], format: "iife", globalName: "WebDNN", outfile: "dist/webdnn.js",
    logOverride: { "empty-import-meta": "silent" } }),
  build({ ...common, entryPoints: ["src/index.ts"], format: "esm", minify: true, outfile: "dist/webdnn.min.mjs" }),
  build({ ...common, entryPoints: ["harness/harness.ts"], format: "esm", outfile: "dist/harness.mjs" }),
  // The wasm backend's worker thread: a classic script (Web Worker) that also runs under Node's worker_threads.
  build({ ...common, entryPoints: ["src/backends/wasm/worker.ts"], format: "iife", outfile: "dist/webdnn-wasm-worker.js" }),
]);
execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
