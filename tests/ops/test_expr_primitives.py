"""Every printer of elementwise expressions knows every primitive of ops/expr.py, and the
activation vocabularies that are still written per language agree with each other."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from webdnn.backends.wasm.lower import ACT_CODES
from webdnn.backends.webgl import expr_glsl
from webdnn.backends.webgpu import expr_wgsl
from webdnn.ops import expr as E
from webdnn.ops.unary_ops import UNARY, unary_expr

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"


def test_gpu_printers_print_every_primitive() -> None:
    assert expr_wgsl.PRINTED == set(E.PRIMITIVES)
    assert expr_glsl.PRINTED == set(E.PRIMITIVES)


def test_js_interpreter_knows_every_primitive() -> None:
    src = (RUNTIME / "src/backends/fallback/kernels/expr.ts").read_text()
    table = src[src.index("const UNARY_FN"):src.index("const BINARY")]
    body = table[table.index("= {") + 3:]
    unary = set(re.findall(r"(?:^|[,{\s])(\w+)(?=:|,)", re.sub(r"\([^)]*\)[^,]*", "", body)))
    binary = set(re.findall(r'"(\w+)"', src[src.index("const BINARY"):].split("\n")[0]))
    known = unary | binary | {"x", "c", "where"}
    assert set(E.PRIMITIVES) <= known, set(E.PRIMITIVES) - known


def test_wasm_activation_codes_agree_across_python_typescript_and_c() -> None:
    assert set(ACT_CODES) <= set(UNARY)  # each is an op of the table (its expression: the reference)
    ts = (RUNTIME / "src/backends/wasm/params.ts").read_text()
    table = re.search(r"const ACT = \{([^}]*)\}", ts)
    assert table is not None
    ts_codes = {k: int(v) for k, v in re.findall(r"(\w+): (\d+)", table.group(1)) if k != "none"}
    assert ts_codes == ACT_CODES
    c = (RUNTIME / "kernels/wasm/common.h").read_text()
    enum = re.search(r"enum \{ ACT_NONE = 0,([^}]*)\}", c)
    assert enum is not None
    assert sorted(int(v) for v in re.findall(r"= (\d+)", enum.group(1))) == sorted(ACT_CODES.values())


def test_printed_functions_are_named_by_content() -> None:
    relu = unary_expr("Relu", {})
    assert expr_wgsl.function(relu) == expr_wgsl.function(unary_expr("Relu", {}))
    assert expr_wgsl.function(relu)[0] != expr_wgsl.function(unary_expr("LeakyRelu", {}))[0]
    assert expr_glsl.function(unary_expr("Elu", {"alpha": 0.5}))[0] != expr_glsl.function(unary_expr("Elu", {}))[0]
    # shared subexpressions are computed once
    text = expr_wgsl.function(unary_expr("Softplus", {}))[1]
    assert text.count("exp(") == len(re.findall(r"let t\d+ = select\(exp", text)) == 2
    assert np.isfinite(E.evaluate(unary_expr("Softplus", {}), np.array([1e30]))).all()
