// Inputs are copied (or uploaded) before run() returns its promise, on every backend: a caller
// that overwrites its input array right after calling run(), before awaiting it, still gets the
// outputs of the data it passed. Run by tests/e2e/test_input_copy.py in Node
// (input_copy_node.mjs) and in Chromium (the same module, imported by a test page).
//   scenario(WebDNN, modelUrl, backend, backendOptions, x) -> { backend, outputs: {case: number[]} }

export async function scenario(WebDNN, url, backend, backendOptions, x) {
  const runner = await WebDNN.load(url, { backendOrder: [backend], backendOptions });
  const outputs = {};
  const read = async (p) => Array.from((await p).y.data);
  try {
    // an idle runner: the input is overwritten as soon as run() returns
    const a = Float32Array.from(x);
    const pa = runner.run({ x: a });
    a.fill(-7);
    outputs.idle = await read(pa);
    // { data, dims }
    const b = Float32Array.from(x);
    const pb = runner.run({ x: { data: b, dims: runner.inputs[0].shape } });
    b.fill(-7);
    outputs.dataDims = await read(pb);
    // runs issued back to back: the second waits for the first (webgpu serializes them) and must
    // not read its input only then; one buffer reused for both, as a frame loop would
    const c = Float32Array.from(x);
    const p1 = runner.run({ x: c });
    c.fill(-7);
    const p2 = runner.run({ x: c }); // this run's input is the overwritten data
    c.set(x);
    const p3 = runner.run({ x: c });
    c.fill(3);
    outputs.first = await read(p1);
    outputs.overwritten = await read(p2);
    outputs.third = await read(p3);
  } finally {
    runner.dispose();
  }
  return { backend: runner.backend, outputs };
}
