// The weight checksum against zlib's CRC-32, over lengths and offsets that exercise the
// unaligned head, the 8-byte body and the tail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import zlib from "node:zlib";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));

test("crc32 equals zlib.crc32", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "webdnn-crc-test-"));
  try {
    const outfile = join(tmp, "crc32.mjs");
    await build({ entryPoints: [join(here, "..", "src", "crc32.ts")], bundle: true, format: "esm", outfile, logLevel: "error" });
    const { crc32 } = await import(pathToFileURL(outfile).href);
    const buf = new Uint8Array(1 << 16);
    for (let i = 0; i < buf.length; i++) buf[i] = (Math.imul(i, 2654435761) >>> 13) & 0xff;
    for (const offset of [0, 1, 2, 3, 4, 5, 7]) {
      for (const length of [0, 1, 3, 7, 8, 9, 15, 16, 17, 1000, 65521]) {
        if (offset + length > buf.length) continue;
        const s = buf.subarray(offset, offset + length);
        assert.equal(crc32(s), zlib.crc32(s), `offset ${offset} length ${length}`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
