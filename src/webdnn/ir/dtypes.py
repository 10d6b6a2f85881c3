"""Element types shared by the IR, the descriptor and the runtime."""

from __future__ import annotations

from enum import Enum

import numpy as np
from onnx import TensorProto


class DType(Enum):
    """Element types. The value is the name used in descriptors and the runtime."""

    FLOAT32 = "float32"
    FLOAT64 = "float64"
    FLOAT16 = "float16"
    INT64 = "int64"
    INT32 = "int32"
    INT16 = "int16"
    INT8 = "int8"
    UINT8 = "uint8"
    BOOL = "bool"

    @property
    def itemsize(self) -> int:
        return int(np.dtype(self.numpy).itemsize)

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(_TO_NUMPY[self])

    @staticmethod
    def from_numpy(dt: np.dtype | type) -> DType:
        dt = np.dtype(dt)
        for k, v in _TO_NUMPY.items():
            if np.dtype(v) == dt:
                return k
        raise ValueError(f"unsupported numpy dtype {dt}")

    @staticmethod
    def from_onnx(elem_type: int) -> DType:
        if elem_type not in _FROM_ONNX:
            name = TensorProto.DataType.Name(elem_type) if elem_type in TensorProto.DataType.values() else "?"
            raise ValueError(f"unsupported ONNX element type {elem_type} ({name})")
        return _FROM_ONNX[elem_type]

    def to_onnx(self) -> int:
        return {v: k for k, v in _FROM_ONNX.items()}[self]


_TO_NUMPY: dict[DType, str] = {
    DType.FLOAT32: "float32",
    DType.FLOAT64: "float64",
    DType.FLOAT16: "float16",
    DType.INT64: "int64",
    DType.INT32: "int32",
    DType.INT16: "int16",
    DType.INT8: "int8",
    DType.UINT8: "uint8",
    DType.BOOL: "bool",
}

_FROM_ONNX: dict[int, DType] = {
    TensorProto.FLOAT: DType.FLOAT32,
    TensorProto.DOUBLE: DType.FLOAT64,
    TensorProto.FLOAT16: DType.FLOAT16,
    TensorProto.INT64: DType.INT64,
    TensorProto.INT32: DType.INT32,
    TensorProto.INT16: DType.INT16,
    TensorProto.INT8: DType.INT8,
    TensorProto.UINT8: DType.UINT8,
    TensorProto.BOOL: DType.BOOL,
}
