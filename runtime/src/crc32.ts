// CRC-32 (IEEE 802.3, as zlib.crc32), slicing-by-8 over aligned 32-bit little-endian words
// (every engine WebDNN runs on is little-endian), to verify downloaded weights: about 1 GB/s,
// so checking a 100 MB model costs ~0.1 s of cold start.

// 8 tables of 256: table k advances a byte by k further bytes of zeros.
const TABLES: Uint32Array = (() => {
  const t = new Uint32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k * 256 + n] = (t[(k - 1) * 256 + n]! >>> 8) ^ t[t[(k - 1) * 256 + n]! & 0xff]!;
  return t;
})();
export function crc32(bytes: Uint8Array): number {
  const t = TABLES;
  let c = 0xffffffff;
  let i = 0;
  const n = bytes.length;
  for (; i < n && (bytes.byteOffset + i) % 4 !== 0; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  const words = i < n ? new Uint32Array(bytes.buffer, bytes.byteOffset + i, ((n - i) >>> 3) << 1) : new Uint32Array(0);
  for (let w = 0; w < words.length; w += 2) {
    const a = c ^ words[w]!, b = words[w + 1]!;
    c = t[1792 + (a & 0xff)]! ^ t[1536 + ((a >>> 8) & 0xff)]! ^ t[1280 + ((a >>> 16) & 0xff)]! ^ t[1024 + (a >>> 24)]! ^
        t[768 + (b & 0xff)]! ^ t[512 + ((b >>> 8) & 0xff)]! ^ t[256 + ((b >>> 16) & 0xff)]! ^ t[b >>> 24]!;
  }
  i += words.length * 4;
  for (; i < n; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
