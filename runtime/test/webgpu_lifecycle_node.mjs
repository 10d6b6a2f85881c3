// Runs webgpu_lifecycle_scenario.mjs in Node with the built runtime and the npm `webgpu`
// package (Dawn). Driven by tests/backends/webgpu/test_webgpu_lifecycle.py, which sets the
// Vulkan environment Dawn needs (SwiftShader) before Node starts: it cannot be set from inside.
// Usage: node webgpu_lifecycle_node.mjs spec.json  -> one JSON line
import { readFileSync } from "node:fs";
import { create } from "webgpu";
import * as WebDNN from "../dist/webdnn.mjs";
import { scenario } from "./webgpu_lifecycle_scenario.mjs";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const result = await scenario(WebDNN, create([]), spec);
console.log(JSON.stringify(result));
process.exit(0); // Dawn's device threads may keep the event loop alive
