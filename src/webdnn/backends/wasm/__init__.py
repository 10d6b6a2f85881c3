"""The wasm backend: C kernels (SIMD128) compiled to one WebAssembly module, NHWC, fp32."""
