// Imports every fallback kernel family so their kernels register themselves.
import "./elementwise.js";
import "./tensor.js";
import "./nn.js";

export { getKernel, supportedOps } from "./registry.js";
export type { TensorView, KernelFactory, Attrs } from "./registry.js";
