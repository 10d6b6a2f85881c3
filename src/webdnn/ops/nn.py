"""Neural-network operators: convolution, pooling, Gemm/MatMul, normalization, softmax, resize.

The rules live in the nn_* modules (one per sub-family); importing this module registers them.
"""

from webdnn.ops import nn_conv, nn_gemm, nn_layout, nn_norm, nn_pool, nn_resize  # noqa: F401
