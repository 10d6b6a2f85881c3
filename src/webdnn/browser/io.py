"""Raw tensor files exchanged with the harness pages and the Node runner."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from webdnn.ir.dtypes import DType


def write_inputs(arrays: Mapping[str, np.ndarray], directory: str, url_prefix: str = "") -> list[dict[str, Any]]:
    """Write each array as raw little-endian bytes; return [{name, url|path, dtype}]."""
    refs = []
    for i, (name, a) in enumerate(arrays.items()):
        dt = DType.from_numpy(a.dtype)
        fname = f"input{i}.bin"
        np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tofile(os.path.join(directory, fname))
        ref: dict[str, Any] = {"name": name, "dtype": dt.value}
        if url_prefix:
            ref["url"] = url_prefix + fname
        else:
            ref["path"] = os.path.join(directory, fname)
        refs.append(ref)
    return refs


def from_bytes(data: bytes, dtype: str, dims: list[int]) -> np.ndarray:
    return np.frombuffer(data, dtype=np.dtype(DType(dtype).numpy).newbyteorder("<")).reshape(dims).copy()
