// Calls wasm kernel exports directly, for kernel tests that need control the runtime does not
// give (e.g. a chosen thread count). Usage: node call_kernel.mjs module.wasm job.json
//   job: {memBytes, stackTop, image, imageBase, out, calls: [{fn, params, nthreads}], dumps: [{addr, nbytes}]}
// Loads the image file at imageBase, points the module's stack at stackTop (growing down),
// runs each call as fn(params, tid, nthreads) for tid = 0..nthreads-1 one after another (the
// threads' work must not depend on running at the same time), then writes the dumped
// regions, concatenated, to `out`.
import { readFileSync, writeFileSync } from "node:fs";

const [wasmPath, jobPath] = process.argv.slice(2);
const job = JSON.parse(readFileSync(jobPath, "utf8"));
const pages = Math.ceil(job.memBytes / 65536);
const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), { env: { memory } });
new Uint8Array(memory.buffer).set(readFileSync(job.image), job.imageBase);
instance.exports.__stack_pointer.value = job.stackTop;
for (const c of job.calls) {
  const fn = instance.exports[c.fn];
  if (typeof fn !== "function") throw new Error(`no export ${c.fn}`);
  for (let tid = 0; tid < c.nthreads; tid++) fn(c.params, tid, c.nthreads);
}
writeFileSync(job.out, Buffer.concat(job.dumps.map((d) => Buffer.from(memory.buffer, d.addr, d.nbytes))));
