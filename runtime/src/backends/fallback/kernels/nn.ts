// Neural-network kernels of the fallback backend: convolution, pooling, Gemm/MatMul,
// normalization, softmax, resize and depth/space rearrangement. Each file registers its
// kernels when imported.
import "./nn/conv.js";
import "./nn/pool.js";
import "./nn/gemm.js";
import "./nn/norm.js";
import "./nn/softmax.js";
import "./nn/resize.js";
import "./nn/layout.js";
