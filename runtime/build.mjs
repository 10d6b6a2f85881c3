// Bundles the runtime with esbuild: an ES module (browser + Node), a script-tag build that defines
// the global `WebDNN`, a CommonJS build for Node's require, plus the test harness page script.
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
  // CommonJS for Node's `require("webdnn")`: import.meta.url (where the kernels and the worker are) becomes
  // this file's own URL.
  build({ ...common, entryPoints: ["src/index.ts"], format: "cjs", platform: "node", outfile: "dist/webdnn.cjs", sourcemap: false,
    define: { "import.meta.url": "__webdnnFileUrl" },
    banner: { js: 'const __webdnnFileUrl = require("node:url").pathToFileURL(__filename).href;' } }),
  build({ ...common, entryPoints: ["harness/harness.ts"], format: "esm", outfile: "dist/harness.mjs" }),
  // The wasm backend's worker thread: a classic script (Web Worker) that also runs under Node's worker_threads.
  build({ ...common, entryPoints: ["src/backends/wasm/worker.ts"], format: "iife", outfile: "dist/webdnn-wasm-worker.js" }),
]);
execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
