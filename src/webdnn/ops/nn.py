"""Neural-network operators: convolution, pooling, Gemm/MatMul, Einsum, normalization, softmax, resize,
recurrent layers, DFT/STFT, quantization.

The rules live in the nn_* modules (one per sub-family); importing this module registers them.
"""

from webdnn.ops import (  # noqa: F401
    nn_conv,
    nn_einsum,
    nn_gemm,
    nn_layout,
    nn_norm,
    nn_pool,
    nn_quant,
    nn_recurrent,
    nn_resize,
    nn_sampling,
    nn_signal,
)
from webdnn.ops.registry import float32_only

# The nn kernels of every backend compute in float32 (see docs/operators.md).
float32_only(
    "Conv", "ConvTranspose", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
    "LpNormalization", "BatchNormalization", "InstanceNormalization", "LayerNormalization", "LRN",
    "Softmax", "LogSoftmax", "Hardmax", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth",
)
