"""What a backend claims to run, and whether a case is out of that claim before converting it.

A case is "not supported" up front when an input/output is not a tensor or has an element
type WebDNN lacks, or when a node that cannot be folded at conversion (some input depends
on a graph input) uses an op with no kernel on the backend. Nodes computed only from
constants are folded through onnx.reference whatever their op, so they never count.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import onnx

from webdnn.conformance.cases import Case, op_name
from webdnn.ir.dtypes import DType
from webdnn.ir.narrow_types import NARROW

# Ops the frontend or shape inference removes whatever the backend: Constant becomes a
# constant value, Shape/Size of a static shape become constants.
ALWAYS_FOLDED = frozenset({"Constant", "Shape", "Size"})
# Control flow the converter resolves when it is decided at conversion (passes/inline_control.py):
# an If with a known condition, a Loop of known trip count, a Scan of fixed length; otherwise the
# conversion refuses the case, which then counts as not supported.
INLINED = frozenset({"If", "Loop", "Scan"})
_ONNX_TYPES = {onnx.TensorProto.DataType.Name(dt.to_onnx()) for dt in DType} | {
    onnx.TensorProto.DataType.Name(t) for t in NARROW}  # held in 8-bit types (ir/narrow_types.py)


@functools.cache
def with_function_body() -> frozenset[str]:
    """Ops whose ONNX schema defines a function body: the frontend writes them out as it
    (frontend/functions.py), so a case converts wherever the body's ops do."""
    return frozenset(s.name for s in onnx.defs.get_all_schemas_with_history()
                     if s.domain in ("", "ai.onnx") and (s.has_function or s.has_context_dependent_function))


@dataclass(frozen=True)
class BackendOps:
    name: str
    rules: frozenset[str]  # ops with a shape rule
    kernels: frozenset[str]  # ops with a kernel on this backend
    conversion_only: frozenset[str]  # ops with a shape rule, folded at conversion, no kernel

    @property
    def runnable(self) -> frozenset[str]:
        from webdnn.frontend.optional_ops import OPS as OPTIONAL_OPS  # resolved by the frontend
        from webdnn.frontend.sequence_ops import OPS as SEQUENCE_OPS
        from webdnn.passes.decompose import DECOMPOSITIONS

        resolved = ALWAYS_FOLDED | INLINED | OPTIONAL_OPS | SEQUENCE_OPS
        return self.kernels | resolved | frozenset(DECOMPOSITIONS) | with_function_body()


def backend_ops(backend: str) -> BackendOps:
    """Read the claim from the code: the op registry and the backend's record (a variant such as
    webgpu-fp16 shares its base backend's kernels, so it claims the same ops)."""
    from webdnn.backends import BACKENDS
    from webdnn.errors import WebDNNError
    from webdnn.ops.registry import supported_ops

    if backend not in BACKENDS:
        raise WebDNNError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    b = BACKENDS[backend]
    return BackendOps(backend, frozenset(supported_ops()), frozenset(b.supported()), b.conversion_only)


def unsupported_reason(case: Case, ops: BackendOps) -> str | None:
    """Why the case is certainly out of the backend's claim, or None when it should convert."""
    if case.non_tensor_io:
        return f"non-tensor input/output: {', '.join(case.non_tensor_io)}"
    bad_types = sorted({t for _, t in case.inputs + case.outputs if t not in _ONNX_TYPES})
    if bad_types:
        return f"element type {', '.join(bad_types)} not supported by WebDNN"
    missing = _unfoldable_ops(case) - ops.runnable
    if not missing:
        return None
    no_rule = sorted(m for m in missing if m not in ops.rules)
    no_kernel = sorted(missing - set(no_rule))
    parts = []
    if no_rule:
        parts.append(f"no shape rule for {', '.join(no_rule)}")
    if no_kernel:
        parts.append(f"no {ops.name} kernel for {', '.join(no_kernel)}")
    return "; ".join(parts)


def _unfoldable_ops(case: Case) -> set[str]:
    """Op types of the nodes whose inputs are not all constant (graph inputs reach them)."""
    model = onnx.load(case.model_path)
    g = model.graph
    inits = {i.name for i in g.initializer}
    variable = {i.name for i in g.input if i.name not in inits}
    ops: set[str] = set()
    for node in g.node:  # ONNX graphs are topologically sorted
        if node.op_type in ALWAYS_FOLDED and node.domain in ("", "ai.onnx"):
            continue
        if any(x in variable for x in node.input if x):
            ops.add(op_name(node))
            variable.update(o for o in node.output if o)
    return ops
