// The app every bundler test builds (tests/e2e/test_npm_package.py): WebDNN from the installed npm package,
// a converted model served at ./model/, and window.go(backend, x) for the test to call.
import * as WebDNN from "webdnn";

window.go = async (backend, x) => {
  const runner = await WebDNN.load("./model/", { backendOrder: [backend], backendOptions: { wasm: { threads: 2 } } });
  const out = await runner.run({ input: new Float32Array(x) });
  const y = Object.values(out)[0];
  const info = runner.backendInfo;
  runner.dispose();
  return { backend: runner.backend, threads: info.threads ?? null, isolated: globalThis.crossOriginIsolated,
    y: Array.from(y.data) };
};
window.appReady = true;
