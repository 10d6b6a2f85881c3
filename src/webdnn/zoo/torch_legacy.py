"""Read a PyTorch state_dict saved in the legacy (pre-1.6, non-zip) serialization, without torch.

The layout (torch/serialization.py, ``_legacy_save``) is five pickles in a row, then raw data:

1. the magic number 0x1950a86a20f9469cfc6c, 2. the protocol version 1001, 3. ``sys_info``
   (``little_endian``, type sizes), 4. the object itself: an ``OrderedDict`` of tensors, each pickled as
   ``torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks)`` with the
   storage as a persistent id ``("storage", torch.FloatStorage, key, location, numel, view)``,
5. the storage keys in the order their data follows; then, per key, its element count (int64) and its bytes.

The unpickler admits only ``collections.OrderedDict``, the two tensor-rebuild functions and the storage types:
any other global in the file is refused (and none at all in the header and key list), so loading runs no code
from the file. Tensors keep their strides
(weights converted from TensorFlow are often not contiguous) and come back as C-contiguous numpy arrays.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from webdnn.errors import ModelLoadError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class _StorageRef:
    key: str
    offset: int  # elements into the root storage (a view's start)
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class _PendingTensor:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _StorageRef, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                    *_: object) -> _PendingTensor:
    if not isinstance(storage, _StorageRef):
        raise ModelLoadError(f"a tensor's storage is {type(storage).__name__}, not a storage")
    return _PendingTensor(storage, int(offset), tuple(map(int, size)), tuple(map(int, stride)))


class _PlainUnpickler(pickle.Unpickler):
    """Plain data only (the header and the key list): any global or persistent id is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise ModelLoadError(f"the file refers to {module}.{name}, which a state_dict does not need")

    def persistent_load(self, pid: Any) -> Any:
        raise ModelLoadError(f"unexpected persistent id {pid!r:.80}")


class _Unpickler(pickle.Unpickler):
    def __init__(self, f: IO[bytes]) -> None:
        super().__init__(f)
        self.storages: dict[str, tuple[np.dtype[Any], int]] = {}  # root key -> (dtype, numel)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(np.dtype(STORAGE_DTYPES[name]).newbyteorder("<"))
        raise ModelLoadError(f"the file refers to {module}.{name}, which a state_dict does not need")

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] in ("storage", b"storage")):
            raise ModelLoadError(f"unknown persistent id {pid!r:.80}")
        _, stype, key, _location, numel, view = pid
        if not isinstance(stype, _StorageType):
            raise ModelLoadError(f"storage {key!r} has no known storage type")
        key = str(key)
        if self.storages.setdefault(key, (stype.dtype, int(numel))) != (stype.dtype, int(numel)):
            raise ModelLoadError(f"storage {key!r} is declared twice, differently")
        offset = 0
        if view is not None:  # (view key, offset, size): a view into the root storage
            offset = int(view[1])
        return _StorageRef(key, offset, stype.dtype)


def _array(t: _PendingTensor, data: dict[str, np.ndarray]) -> np.ndarray:
    base = data[t.storage.key]
    start = t.storage.offset + t.offset
    if any(n == 0 for n in t.size):
        return np.zeros(t.size, base.dtype)
    last = start + sum((n - 1) * s for n, s in zip(t.size, t.stride, strict=True))
    if start < 0 or last >= base.size or min(t.stride, default=0) < 0:
        raise ModelLoadError(f"a tensor of shape {list(t.size)} reaches outside its storage of {base.size} elements")
    view = np.lib.stride_tricks.as_strided(
        base[start:], shape=t.size, strides=[s * base.itemsize for s in t.stride], writeable=False
    )
    return np.array(view, dtype=base.dtype.newbyteorder("="), order="C")  # a copy (0-d stays 0-d)


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a legacy-format ``torch.save(state_dict)`` file, by name, as numpy arrays."""
    with open(path, "rb") as f:
        try:
            header = [_PlainUnpickler(f).load() for _ in range(3)]
        except ModelLoadError:
            raise
        except Exception as e:
            raise ModelLoadError(f"{path}: not a legacy PyTorch file ({e})") from None
        if header[0] != MAGIC_NUMBER or header[1] != PROTOCOL_VERSION:
            raise ModelLoadError(f"{path}: not a legacy PyTorch file (magic {header[0]!r}, protocol {header[1]!r})")
        if not (isinstance(header[2], dict) and header[2].get("little_endian")):
            raise ModelLoadError(f"{path}: only little-endian files are supported")
        unpickler = _Unpickler(f)
        try:
            obj = unpickler.load()
            keys = _PlainUnpickler(f).load()
        except ModelLoadError:
            raise
        except Exception as e:
            raise ModelLoadError(f"{path}: damaged pickle ({type(e).__name__}: {e})") from None
        if not isinstance(obj, dict):
            raise ModelLoadError(f"{path}: holds a {type(obj).__name__}, not a state_dict")
        if not isinstance(keys, list):
            raise ModelLoadError(f"{path}: the storage key list is a {type(keys).__name__}")
        data: dict[str, np.ndarray] = {}
        for key in map(str, keys):
            if key not in unpickler.storages:
                raise ModelLoadError(f"{path}: data for storage {key!r}, which no tensor uses")
            dtype, numel = unpickler.storages[key]
            head = f.read(8)
            raw = f.read(numel * dtype.itemsize) if len(head) == 8 else b""
            if len(head) != 8 or struct.unpack("<q", head)[0] != numel or len(raw) != numel * dtype.itemsize:
                raise ModelLoadError(f"{path}: storage {key!r} is truncated or has the wrong size")
            data[key] = np.frombuffer(raw, dtype)
        missing = set(unpickler.storages) - set(data)
        if missing:
            raise ModelLoadError(f"{path}: no data for storages {sorted(missing)}")
    out: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if not isinstance(value, _PendingTensor):
            raise ModelLoadError(f"{path}: entry {name!r} is a {type(value).__name__}, not a tensor")
        out[str(name)] = _array(value, data)
    return out
