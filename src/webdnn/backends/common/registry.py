"""The one registry type every backend keeps its kernel generators in: op type -> generator,
filled by the `register` decorator at import time, refusing a second generator for an op.
Every generator has the signature `gen(ctx, node) -> list[<the backend's kernel record>]`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

G = TypeVar("G", bound=Callable[..., object])


class KernelRegistry(dict[str, G]):
    def __init__(self, backend: str) -> None:
        super().__init__()
        self.backend = backend

    def register(self, *ops: str) -> Callable[[G], G]:
        """Decorator: `fn` generates the kernels of `ops` (ONNX op types, canonical nodes)."""

        def deco(fn: G) -> G:
            for op in ops:
                if op in self:
                    raise ValueError(f"{self.backend}: a second kernel generator for {op} ({fn.__qualname__}; "
                                     f"the first is {self[op].__qualname__})")
                self[op] = fn
            return fn

        return deco
