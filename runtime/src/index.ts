// WebDNN runtime: load a converted model and run it in the browser or Node.
//
//   const runner = await WebDNN.load("models/resnet50/", { backendOrder: ["wasm", "fallback"] });
//   const { output } = await runner.run({ input: new Float32Array(3 * 224 * 224) });
export { load } from "./loader.js";
export { clearCache, fetchCached } from "./cache.js";
export { environment } from "./environment.js";
export type { Environment } from "./environment.js";
export type { LoadOptions, Progress, SkippedBackend } from "./loader.js";
export { Runner } from "./runner.js";
export type { Tensor, InputValue, GpuBufferValue, GpuTensor, RunOptions } from "./runner.js";
export type { DType, TypedArray } from "./dtypes.js";
export type { IOSpec } from "./descriptor.js";
export type { DynamicIOSpec, SymbolBounds } from "./dynamic.js";
export type { SymbolSpec } from "./dims.js";
export { WebDNNError, DescriptorError, InputError, BackendUnavailableError, LoadError, WebGPUError } from "./errors.js";
export { BACKENDS } from "./backends/index.js";
export { setWasmBaseUrl } from "./backends/wasm/index.js";
export type { WasmOptions } from "./backends/wasm/index.js";
export type { WebGPUOptions } from "./backends/webgpu/index.js";
export { supportedOps as fallbackSupportedOps } from "./backends/fallback/kernels/index.js";
export const version = "0.1.0";
/** Image pre/post-processing: pixels -> input tensor (Pillow-exact resize, crop, normalize), tensor -> ImageData,
 *  softmax / top-k (see image.ts). */
export * as image from "./image.js";
export type { RGBAImage, ImageSource, ToTensorOptions, FromTensorOptions, ImageTensor, TopKEntry } from "./image.js";
/** BERT WordPiece tokenization from a model's vocab.txt, mean pooling, cosine similarity (see text.ts). */
export * as text from "./text.js";
export type { WordPieceOptions, EncodeOptions, Encoding, BertInputs } from "./text.js";
