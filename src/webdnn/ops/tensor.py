"""Tensor operators: shape manipulation and data movement, indexing, reductions.

The rules live in the tensor_* modules (one per sub-family); importing this module
registers them.
"""

from webdnn.ops import tensor_index, tensor_reduce, tensor_shape  # noqa: F401
