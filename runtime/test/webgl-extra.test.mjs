// The webgl descriptor field's validation (extra.ts): texture strides and render targets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "webdnn-webgl-extra-test-"));
let parseExtra, DescriptorError;
try {
  const outfile = join(tmp, "bundle.mjs");
  await build({
    stdin: {
      contents: 'export { parseExtra } from "./extra.ts"; export { DescriptorError } from "../../errors.ts";',
      resolveDir: join(here, "..", "src", "backends", "webgl"), loader: "ts",
    },
    bundle: true, format: "esm", platform: "neutral", outfile, logLevel: "error",
  });
  ({ parseExtra, DescriptorError } = await import(pathToFileURL(outfile).href));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

/** One pass reading texture 0 and writing texture 1 (`attrs` extra), over the given textures. */
function desc(textures, attrs = {}) {
  return {
    inputs: [{ tensor: 0 }], outputs: [{ tensor: 1 }],
    kernels: [{ name: "k", op: "Conv", inputs: [0], outputs: [1], attrs: { program: 0, textures: [0, 1], ...attrs } }],
    webgl: { programs: ["src"], textures, inputs: [0], outputs: [1] },
  };
}

test("a layered texture's stride defaults to a whole layer and may be smaller", () => {
  const ex = parseExtra(desc([{ width: 4, height: 3 }, { width: 4, height: 3, layers: 4, stride: 10 }], { targets: 4 }));
  assert.deepEqual(ex.textures, [{ width: 4, height: 3, layers: 1, stride: 12 }, { width: 4, height: 3, layers: 4, stride: 10 }]);
});

test("a stride beyond a layer is rejected", () => {
  assert.throws(() => parseExtra(desc([{ width: 4, height: 3 }, { width: 4, height: 3, layers: 4, stride: 13 }])),
    (e) => e instanceof DescriptorError && /stride at most width \* height/.test(e.message));
});

test("render targets must match the output's layers", () => {
  for (const targets of [2, 0, 1.5]) {
    assert.throws(() => parseExtra(desc([{ width: 1, height: 1 }, { width: 2, height: 2, layers: 4 }], { targets })),
      (e) => e instanceof DescriptorError && /render targets, not one per layer/.test(e.message));
  }
});
