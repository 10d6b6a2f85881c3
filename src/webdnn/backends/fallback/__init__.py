"""The fallback backend: plain-JavaScript kernels in the runtime, NCHW, fp32."""
