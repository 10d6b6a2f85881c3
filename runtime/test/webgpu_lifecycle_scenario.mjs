// The webgpu runtime's lifecycle, the same steps in Node (webgpu_lifecycle_node.mjs, Dawn on
// SwiftShader) and in headless Chromium (imported by tests/backends/webgpu/test_webgpu_lifecycle.py
// into the harness page): GPU-resident inputs/outputs and chaining two runners on one device,
// the errors for unusable GPU buffers, device loss, models that exceed the limits, and that
// dispose() frees every buffer it made but leaves a supplied device alive.
// It returns plain data; the pytest side checks it against onnxruntime.
//
// m: { a, b, big, mid: model URLs/paths; x: A's input as numbers }
//   a:   x[1,3,5,6] -> y[1,4,5,6] (converted for webgpu and fallback)
//   b:   y[1,4,5,6] -> z           (webgpu)
//   big: a with its webgpu arena enlarged past any adapter's maxBufferSize
//   mid: a with its webgpu arena enlarged past the default device limit (256 MiB)

// GPUBufferUsage values (the globals are absent in Node)
const COPY_SRC = 0x4, COPY_DST = 0x8, STORAGE = 0x80;

const caught = async (f) => {
  try {
    await f();
    return null;
  } catch (e) {
    return { name: e?.name ?? "", message: e?.message ?? String(e) };
  }
};
const list = (a) => Array.from(a, Number);
const tick = (ms) => new Promise((r) => setTimeout(r, ms));
/** true when the device has not been lost within `ms`. */
const aliveAfter = (device, ms) => Promise.race([device.lost.then(() => false), tick(ms).then(() => true)]);

export async function scenario(WebDNN, gpu, m) {
  const r = {};
  const x = new Float32Array(m.x);
  // an adapter makes one device: a fresh adapter for each
  const newDevice = async (label) => (await gpu.requestAdapter()).requestDevice({ label });
  const adapter = await gpu.requestAdapter();
  const device = await newDevice("test shared device");

  // Every buffer made on the shared device, live until destroyed (the test's own buffers are made
  // with the unwrapped createBuffer and not counted).
  const live = new Set();
  let created = 0;
  const rawCreate = device.createBuffer.bind(device);
  device.createBuffer = (d) => {
    const b = rawCreate(d);
    created++;
    live.add(b);
    const destroy = b.destroy.bind(b);
    b.destroy = () => { live.delete(b); destroy(); };
    return b;
  };
  const userBuffer = (bytes, usage = STORAGE | COPY_SRC | COPY_DST, dev = device) => {
    const b = (dev === device ? rawCreate : dev.createBuffer.bind(dev))({ size: bytes.byteLength, usage });
    if (usage & COPY_DST) dev.queue.writeBuffer(b, 0, bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return b;
  };

  const shared = { backendOrder: ["webgpu"], backendOptions: { webgpu: { device } } };
  const A = await WebDNN.load(m.a, shared);
  const B = await WebDNN.load(m.b, shared);
  r.backend = A.backend;
  r.info = A.backendInfo;
  r.sameDevice = A.gpuDevice === device && B.gpuDevice === device;

  // CPU path: A, then B on A's output read back to the CPU
  const ya = (await A.run({ x })).y;
  const zCpu = (await B.run({ y: ya.data })).z;
  r.cpu = { y: list(ya.data), z: list(zCpu.data) };

  // GPU chain: A's output buffer straight into B
  const ga = await A.run({ x }, { outputLocation: "gpu-buffer" });
  const gy = ga.y;
  r.gpuOut = { size: gy.gpuBuffer.size, usage: gy.gpuBuffer.usage, byteLength: gy.byteLength, dims: gy.dims, dtype: gy.dtype, read: list(await gy.read()) };
  const gb = await B.run({ y: gy }, { outputLocation: "gpu-buffer" });
  const zCpuOut = (await B.run({ y: gy })).z; // GPU in, CPU out
  r.chain = { z: list(await gb.z.read()), zCpuOut: list(zCpuOut.data) };

  // A GPU input the app made itself (written from the CPU once, then reused)
  const xBuf = userBuffer(x);
  r.userInput = list((await A.run({ x: { gpuBuffer: xBuf, dims: [1, 3, 5, 6], dtype: "float32" } })).y.data);

  // Unusable GPU inputs: each run fails with its own message, and the runner keeps working
  const other = await newDevice("test other device");
  r.errors = {
    size: await caught(() => A.run({ x: { gpuBuffer: userBuffer(new Float32Array(4)) } })),
    usage: await caught(() => A.run({ x: { gpuBuffer: userBuffer(x, STORAGE | COPY_DST) } })),
    device: await caught(() => A.run({ x: { gpuBuffer: userBuffer(x, STORAGE | COPY_SRC | COPY_DST, other) } })),
    destroyed: await caught(() => {
      const b = userBuffer(x);
      b.destroy();
      return A.run({ x: { gpuBuffer: b } });
    }),
    dims: await caught(() => A.run({ x: { gpuBuffer: xBuf, dims: [3, 5, 6] } })),
    dtype: await caught(() => A.run({ x: { gpuBuffer: xBuf, dtype: "int32" } })),
    outputLocation: await caught(() => A.run({ x }, { outputLocation: "gpu" })),
  };
  r.afterErrors = list((await A.run({ x: { gpuBuffer: xBuf } })).y.data);
  other.destroy();

  // Backends that run on the CPU refuse GPU buffers
  const F = await WebDNN.load(m.a, { backendOrder: ["fallback"] });
  r.fallback = {
    backend: F.backend,
    gpuDevice: F.gpuDevice === undefined,
    input: await caught(() => F.run({ x: { gpuBuffer: xBuf } })),
    output: await caught(() => F.run({ x }, { outputLocation: "gpu-buffer" })),
  };
  F.dispose();

  // dispose() frees every buffer the runners made; GPU outputs are the caller's to free
  r.liveBeforeDispose = live.size;
  ga.y.dispose();
  gb.z.dispose();
  r.liveOutputsFreed = live.size;
  A.dispose();
  B.dispose();
  r.created = created;
  r.liveAfterDispose = live.size;
  r.gpuDeviceAfterDispose = A.gpuDevice === undefined;
  r.disposedRun = await caught(() => A.run({ x }));
  // ... and leaves the supplied device working
  device.pushErrorScope("validation");
  const probe = rawCreate({ size: 16, usage: STORAGE | COPY_DST });
  device.queue.writeBuffer(probe, 0, new Float32Array(4));
  r.userDeviceError = await device.popErrorScope();
  r.userDeviceAlive = await aliveAfter(device, 100);
  probe.destroy();
  xBuf.destroy();

  // A device the runner made itself is destroyed by dispose()
  const owned = { backendOrder: ["webgpu"], backendOptions: { webgpu: { gpu } } };
  const E = await WebDNN.load(m.a, owned);
  const eDevice = E.gpuDevice;
  E.dispose();
  r.ownedDestroyed = await Promise.race([eDevice.lost.then((i) => i.reason), tick(2000).then(() => "not lost")]);

  // Device loss, on a supplied device destroyed by the app ...
  const lostDevice = await newDevice("test lost device");
  const C = await WebDNN.load(m.a, { backendOrder: ["webgpu"], backendOptions: { webgpu: { device: lostDevice } } });
  r.beforeLoss = list((await C.run({ x })).y.data);
  lostDevice.destroy();
  r.lossSupplied = await caught(() => C.run({ x }));
  r.lossSuppliedGpu = await caught(() => C.run({ x }, { outputLocation: "gpu-buffer" }));
  r.disposeAfterLoss = await caught(() => C.dispose());
  // ... and on the runner's own device, without waiting for device.lost to settle
  const D = await WebDNN.load(m.a, owned);
  D.gpuDevice.destroy();
  r.lossOwned = await caught(() => D.run({ x }));
  D.dispose();

  // Models that do not fit: past the adapter's maxBufferSize, and past a supplied device's limit
  r.limitAdapter = await caught(() => WebDNN.load(m.big, owned));
  r.adapterMaxBufferSize = adapter.limits.maxBufferSize;
  r.limitDevice = await caught(() => WebDNN.load(m.mid, shared));
  r.deviceMaxBufferSize = device.limits.maxBufferSize;
  device.destroy();
  return r;
}
