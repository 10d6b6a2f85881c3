"""Element types WebDNN holds in another type: float8 (five formats), float4, int4/uint4, int2/uint2, bfloat16,
uint16 and uint32.

No backend computes in these types; ONNX lets only a few ops touch them (Cast, CastLike,
QuantizeLinear, DequantizeLinear and the data-movement ops). So a tensor of such a type is
*held* in an 8-bit type WebDNN has (its `storage`):
- a float type as its **code** (the bit pattern, one per byte, in uint8): data movement moves
  codes unchanged, and a value is read through a 256-entry table (`decode_table`); bfloat16 as
  its 16-bit pattern in int16 (read by arithmetic on the bits, frontend/narrow_types.py);
- an integer type as its **value** (int8 for int4/int2, uint8 for uint4/uint2, one per byte: ONNX
  files pack 4-bit and 2-bit values, the frontend unpacks them; int32 for uint16, int64 for uint32,
  where integer arithmetic runs with its results wrapped to the type's range).

The frontend rewrites the graph into these storage types (frontend/narrow_types.py). A model
input or output of such a type keeps its type in the manifest (`element_type`), and is passed
and returned in its storage: float8 codes as uint8, int4 values as int8 (`to_storage`,
`from_storage` convert numpy arrays of the ml_dtypes types).
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np
from onnx import TensorProto

from webdnn.ir.dtypes import DType


@dataclass(frozen=True)
class NarrowType:
    name: str  # as ONNX's TensorProto names it, lower case (the manifest's element_type)
    onnx: int
    numpy: np.dtype  # the ml_dtypes type
    storage: DType
    is_float: bool

    @property
    def wide(self) -> bool:
        """An unsigned type held as its value in a wider signed type (uint16 in int32, uint32 in int64): integer
        arithmetic runs there, its results wrapped to the type's range."""
        return self.onnx in (TensorProto.UINT16, TensorProto.UINT32)

    @property
    def int_range(self) -> tuple[int, int]:
        info = ml_dtypes.iinfo(self.numpy)
        return int(info.min), int(info.max)

    def decode_table(self) -> np.ndarray:
        """float32 value of each code (8-bit float types): 256 entries (16 for float4)."""
        n = 16 if self.onnx == TensorProto.FLOAT4E2M1 else 256
        return np.arange(n, dtype=np.uint8).view(self.numpy).astype(np.float32)


def _t(name: str, onnx: int, numpy: type, storage: DType, is_float: bool) -> NarrowType:
    return NarrowType(name, onnx, np.dtype(numpy), storage, is_float)


NARROW: dict[int, NarrowType] = {t.onnx: t for t in (
    _t("float8e4m3fn", TensorProto.FLOAT8E4M3FN, ml_dtypes.float8_e4m3fn, DType.UINT8, True),
    _t("float8e4m3fnuz", TensorProto.FLOAT8E4M3FNUZ, ml_dtypes.float8_e4m3fnuz, DType.UINT8, True),
    _t("float8e5m2", TensorProto.FLOAT8E5M2, ml_dtypes.float8_e5m2, DType.UINT8, True),
    _t("float8e5m2fnuz", TensorProto.FLOAT8E5M2FNUZ, ml_dtypes.float8_e5m2fnuz, DType.UINT8, True),
    _t("float8e8m0", TensorProto.FLOAT8E8M0, ml_dtypes.float8_e8m0fnu, DType.UINT8, True),
    _t("float4e2m1", TensorProto.FLOAT4E2M1, ml_dtypes.float4_e2m1fn, DType.UINT8, True),
    _t("int4", TensorProto.INT4, ml_dtypes.int4, DType.INT8, False),
    _t("uint4", TensorProto.UINT4, ml_dtypes.uint4, DType.UINT8, False),
    _t("int2", TensorProto.INT2, ml_dtypes.int2, DType.INT8, False),
    _t("uint2", TensorProto.UINT2, ml_dtypes.uint2, DType.UINT8, False),
    _t("bfloat16", TensorProto.BFLOAT16, ml_dtypes.bfloat16, DType.INT16, True),
    _t("uint16", TensorProto.UINT16, np.uint16, DType.INT32, False),
    _t("uint32", TensorProto.UINT32, np.uint32, DType.INT64, False),
)}
BY_NAME: dict[str, NarrowType] = {t.name: t for t in NARROW.values()}


def to_storage(a: np.ndarray) -> np.ndarray:
    """An array of a narrow type in its storage (codes or values); any other array unchanged."""
    t = next((t for t in NARROW.values() if a.dtype == t.numpy), None)
    if t is None:
        return a
    return a.view(t.storage.numpy).copy() if t.is_float else a.astype(t.storage.numpy)


def from_storage(a: np.ndarray, element_type: str) -> np.ndarray:
    """The inverse of to_storage for a manifest's `element_type`."""
    t = BY_NAME[element_type]
    if t.is_float:
        return np.ascontiguousarray(a).astype(t.storage.numpy).view(t.numpy)
    return a.astype(t.numpy)
