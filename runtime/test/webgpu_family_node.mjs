// The webgpu backend's size family (Backend.createFamily) on a real WebGPU in Node: Dawn (the npm
// `webgpu` package) on SwiftShader. Started by webgpu-family.test.mjs in a child process, because
// the Vulkan environment Dawn needs (VK_ICD_FILENAMES, LD_LIBRARY_PATH) must be set before Node
// starts. Usage: node webgpu_family_node.mjs bundle.mjs modelDir  -> one JSON line.
//
// The model (written by the test): x float32 [n, 4] -> y = x * w + 1 ([n, 4], a shader whose text
// holds n), s = sum(w) ([1], a shader that does not depend on n); w float32 [4] are the weights.
import { pathToFileURL } from "node:url";
import { create } from "webgpu";

const [bundle, model] = process.argv.slice(2);
const WebDNN = await import(pathToFileURL(bundle).href);
const gpu = create([]);
const r = {};

const caught = async (f) => {
  try {
    await f();
    return null;
  } catch (e) {
    return { name: e?.name ?? "", message: e?.message ?? String(e) };
  }
};
const list = (a) => Array.from(a, Number);
const tick = (ms) => new Promise((res) => setTimeout(res, ms));
const x = (n, k = 0) => ({ data: Float32Array.from({ length: 4 * n }, (_, i) => ((i * 7 + k) % 11) - 5), dims: [n, 4] });
const run = async (runner, n, k = 0) => {
  const o = await runner.run({ x: x(n, k) });
  return { y: list(o.y.data), yDims: o.y.dims, s: list(o.s.data) };
};

// Every buffer a device makes, by label, live until destroyed; every device requested.
function instrument(device) {
  const live = new Map();
  const made = {};
  const raw = device.createBuffer.bind(device);
  device.createBuffer = (d) => {
    const b = raw(d);
    made[d.label] = (made[d.label] ?? 0) + 1;
    live.set(b, d.label);
    const destroy = b.destroy.bind(b);
    b.destroy = () => { live.delete(b); destroy(); };
    return b;
  };
  const labels = () => [...live.values()].sort();
  return { made, labels, raw };
}
let devicesRequested = 0;
const devices = [];
const counting = {
  requestAdapter: async (o) => {
    const a = await gpu.requestAdapter(o);
    if (!a) return a;
    const requestDevice = a.requestDevice.bind(a);
    a.requestDevice = async (d) => {
      devicesRequested++;
      const dev = await requestDevice(d);
      devices.push({ dev, counts: instrument(dev) });
      return dev;
    };
    return a;
  },
};

// 1. Own device: sizes a, b, a, b -- one device, one weights upload, two sessions; the static
//    shader compiled once, the size-dependent one once per size.
{
  const R = await WebDNN.load(model, { backendOrder: ["webgpu"], backendOptions: { webgpu: { gpu: counting } } });
  r.own = { a: await run(R, 3), b: await run(R, 17, 1), a2: await run(R, 3, 2), b2: await run(R, 17, 3) };
  r.own.info = R.backendInfo;
  r.own.devicesRequested = devicesRequested;
  r.own.made = devices[0]?.counts.made;
  r.own.live = devices[0]?.counts.labels();
  // GPU-resident: size 3's output fed back in (size 3), size 17's into size 17, all on the one device
  const g3 = await R.run({ x: x(3) }, { outputLocation: "gpu-buffer" });
  const g17 = await R.run({ x: x(17, 1) }, { outputLocation: "gpu-buffer" });
  r.own.sameDevice = R.gpuDevice === devices[0]?.dev;
  r.own.chain3 = list((await R.run({ x: g3.y })).y.data);
  r.own.chain17 = list((await R.run({ x: g17.y })).y.data);
  g3.y.dispose(); g3.s.dispose(); g17.y.dispose(); g17.s.dispose();
  // device loss: a size seen before and a new one fail with the clear error
  const dev = R.gpuDevice;
  dev.destroy();
  r.own.lostSeen = await caught(() => R.run({ x: x(3) }));
  r.own.lostNew = await caught(() => R.run({ x: x(5) }));
  r.own.disposeAfterLoss = await caught(() => R.dispose());
}

// 2. A supplied device shared by two runners of the model; a cache of one size, so sizes are
//    evicted: an evicted size frees its own buffers only, dispose() frees all, the device lives.
{
  const adapter = await gpu.requestAdapter();
  const device = await adapter.requestDevice({ label: "test shared device" });
  const counts = instrument(device);
  const opts = { backendOrder: ["webgpu"], backendOptions: { webgpu: { device } } };
  const R1 = await WebDNN.load(model, { ...opts, shapeCacheSize: 1 });
  const R2 = await WebDNN.load(model, opts);
  r.shared = {};
  r.shared.a = await run(R1, 3);
  r.shared.liveA = counts.labels();
  r.shared.b = await run(R1, 17, 1);
  await tick(0); // the evicted size is disposed once its run is over
  r.shared.liveB = counts.labels();
  r.shared.infoB = R1.backendInfo;
  // a GPU output of one runner's size feeds the other runner (any size, one device)
  const g = await R1.run({ x: x(5) }, { outputLocation: "gpu-buffer" });
  r.shared.chain = list((await R2.run({ x: g.y })).y.data);
  r.shared.chainDims = (await R2.run({ x: g.y })).y.dims;
  r.shared.sameDevice = R1.gpuDevice === device && R2.gpuDevice === device;
  g.y.dispose(); g.s.dispose();
  R1.dispose();
  R2.dispose();
  await tick(0); // the family (weights) is freed once its sessions are, a microtask later
  r.shared.liveAfterDispose = counts.labels();
  r.shared.made = counts.made;
  device.pushErrorScope("validation");
  const probe = counts.raw({ size: 16, usage: 0x80 | 0x8 });
  device.queue.writeBuffer(probe, 0, new Float32Array(4));
  r.shared.deviceError = await device.popErrorScope();
  r.shared.deviceAlive = await Promise.race([device.lost.then(() => false), tick(100).then(() => true)]);
  probe.destroy();
  device.destroy();
}

// 3. dispose() destroys a device the family made
{
  const R = await WebDNN.load(model, { backendOrder: ["webgpu"], backendOptions: { webgpu: { gpu } } });
  await run(R, 4);
  await run(R, 9);
  const dev = R.gpuDevice;
  R.dispose();
  r.ownedDestroyed = await Promise.race([dev.lost.then((i) => i.reason), tick(2000).then(() => "not lost")]);
}

console.log(JSON.stringify(r));
process.exit(0); // Dawn's device threads may keep the event loop alive
