// Runs input_copy_scenario.mjs in Node with the built runtime (webgpu through the npm `webgpu`
// package, Dawn). Driven by tests/e2e/test_input_copy.py, which sets the Vulkan environment.
// Usage: node input_copy_node.mjs spec.json  ({model, backend, x}) -> one JSON line
import { readFileSync } from "node:fs";
import * as WebDNN from "../dist/webdnn.mjs";
import { scenario } from "./input_copy_scenario.mjs";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const options = {};
if (spec.backend === "webgpu") options.webgpu = { gpu: (await import("webgpu")).create([]) };
console.log(JSON.stringify(await scenario(WebDNN, spec.model, spec.backend, options, spec.x)));
process.exit(0); // Dawn's device threads may keep the event loop alive
