// TensorFlow.js's own layers-model files for a benchmark CNN, written by TF.js itself:
//   node tfjs-save-layers.mjs DIR
// reads DIR/tfjs.json + DIR/tfjs.bin (the NHWC translation webdnn.bench.tfjs writes from the ONNX
// model's optimized graph, same weights), builds the network with tf.layers and saves it with TF.js's
// serializer as DIR/model.json + DIR/weights.bin: the files a TF.js app ships. The benchmark page
// loads them with tf.loadLayersModel, and WebDNN's TF.js and Keras frontends convert them (the
// "via TF.js"/"via Keras" rows).
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(resolve(here, "../package.json"));
const tf = require("@tensorflow/tfjs");

function buildLayersModel(tf, spec, weights) {
  const w = (ref) => tf.tensor(new Float32Array(weights, ref.offset, ref.size), ref.shape);
  const values = {};
  const input = tf.input({ shape: spec.input.shape.slice(1), name: "input" });
  values[spec.input.name] = input;
  const act = (a) => (a === "relu" ? "relu" : "linear");
  let n = 0;
  const name = (op) => `${op.toLowerCase()}_${n++}`;
  const pad = (x, p) => (p.some((v) => v !== 0)
    ? tf.layers.zeroPadding2d({ padding: [[p[0], p[2]], [p[1], p[3]]], name: name("pad") }).apply(x) : x);
  const relu6 = (x, a) => (a === "relu6" ? tf.layers.reLU({ maxValue: 6, name: name("relu6") }).apply(x) : x);
  for (const op of spec.ops) {
    const x = values[op.inputs[0]];
    let y;
    if (op.op === "conv" || op.op === "depthwise") {
      const common = {
        kernelSize: op.kernel, strides: op.strides, dilationRate: op.dilations, padding: "valid",
        activation: act(op.activation), useBias: true, name: name(op.op),
      };
      if (op.op === "conv") {
        y = tf.layers.conv2d({ ...common, filters: op.filters, kernelInitializer: "zeros",
          weights: [w(op.weight), w(op.bias)] }).apply(pad(x, op.pads));
      } else {
        y = tf.layers.depthwiseConv2d({ ...common, depthMultiplier: 1, depthwiseInitializer: "zeros",
          weights: [w(op.weight), w(op.bias)] }).apply(pad(x, op.pads));
      }
      y = relu6(y, op.activation);
    } else if (op.op === "maxpool" || op.op === "avgpool") {
      const cfg = { poolSize: op.kernel, strides: op.strides, padding: "valid", name: name(op.op) };
      y = (op.op === "maxpool" ? tf.layers.maxPooling2d(cfg) : tf.layers.averagePooling2d(cfg)).apply(pad(x, op.pads));
    } else if (op.op === "gap") {
      y = tf.layers.globalAveragePooling2d({ name: name("gap") }).apply(x);
    } else if (op.op === "add") {
      y = tf.layers.add({ name: name("add") }).apply(op.inputs.map((i) => values[i]));
    } else if (op.op === "concat") {
      y = tf.layers.concatenate({ axis: -1, name: name("concat") }).apply(op.inputs.map((i) => values[i]));
    } else if (op.op === "relu") {
      y = tf.layers.reLU({ name: name("relu") }).apply(x);
    } else if (op.op === "flatten") {
      y = tf.layers.flatten({ name: name("flatten") }).apply(x);
    } else if (op.op === "dense") {
      y = tf.layers.dense({ units: op.units, activation: act(op.activation), kernelInitializer: "zeros",
        weights: [w(op.weight), w(op.bias)], name: name("dense") }).apply(x);
      y = relu6(y, op.activation);
    } else {
      throw new Error(`TF.js spec: unknown op ${op.op}`);
    }
    values[op.output] = y;
  }
  return tf.model({ inputs: input, outputs: values[spec.output.name] });
}

const dir = process.argv[2];
if (!dir) throw new Error("usage: node tfjs-save-layers.mjs DIR");
const spec = JSON.parse(readFileSync(join(dir, "tfjs.json"), "utf8"));
const bin = readFileSync(join(dir, "tfjs.bin"));
await tf.setBackend("cpu");
const model = buildLayersModel(tf, spec, bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
await model.save(tf.io.withSaveHandler(async (a) => {
  const parts = Array.isArray(a.weightData) ? a.weightData : [a.weightData];
  writeFileSync(join(dir, "weights.bin"), Buffer.concat(parts.map((p) => Buffer.from(p))));
  const json = {
    format: "layers-model", generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`, convertedBy: null,
    modelTopology: a.modelTopology, weightsManifest: [{ paths: ["weights.bin"], weights: a.weightSpecs }],
  };
  writeFileSync(join(dir, "model.json"), JSON.stringify(json));
  return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
}));
