"""Every printer of elementwise expressions knows every primitive of ops/expr.py (the wasm C
interpreter: those it declares), and the opcode numbering agrees in Python, TypeScript and C."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from webdnn.backends.wasm.lower import C_PRIMITIVES
from webdnn.backends.webgl import expr_glsl
from webdnn.backends.webgpu import expr_wgsl
from webdnn.ops import expr as E
from webdnn.ops.unary_ops import EPILOGUE_PRIMITIVES, unary_expr

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


def test_wasm_interpreter_opcodes_agree_across_python_typescript_and_c() -> None:
    ts_opcodes = re.findall(r'"(\w+)"', _between((RUNTIME / "src/backends/fallback/kernels/expr.ts").read_text(),
                                                  "export const OPCODES", "];"))
    assert ts_opcodes == list(E.PRIMITIVES)  # the numbering expr_words.ts encodes
    c = (RUNTIME / "kernels/wasm/common.h").read_text()
    enum = {name.lower(): int(v) for name, v in re.findall(r"OP_(\w+) = (\d+)", _between(c, "enum { OP_X", "};"))}
    assert all(E.OPCODES[name] == code for name, code in enum.items()), enum
    cases = {name.lower() for name in re.findall(r"case OP_(\w+):", _between(c, "v4 v_expr(", "\n}\n"))}
    assert set(enum) == cases == C_PRIMITIVES  # what the C interpreter runs, as the converter assumes
    ts_c = set(re.findall(r'"(\w+)"', _between((RUNTIME / "src/backends/wasm/expr_words.ts").read_text(),
                                               "export const C_PRIMITIVES", "]);")))
    assert ts_c == C_PRIMITIVES
    assert EPILOGUE_PRIMITIVES <= C_PRIMITIVES  # every fused activation runs in the C epilogue


def _between(text: str, start: str, end: str) -> str:
    i = text.index(start)
    return text[i:text.index(end, i)]


def test_printed_functions_are_named_by_content() -> None:
    relu = unary_expr("Relu", {})
    assert expr_wgsl.function(relu) == expr_wgsl.function(unary_expr("Relu", {}))
    assert expr_wgsl.function(relu)[0] != expr_wgsl.function(unary_expr("LeakyRelu", {}))[0]
    assert expr_glsl.function(unary_expr("Elu", {"alpha": 0.5}))[0] != expr_glsl.function(unary_expr("Elu", {}))[0]
    # shared subexpressions are computed once
    text = expr_wgsl.function(unary_expr("Softplus", {}))[1]
    assert text.count("exp(") == len(re.findall(r"let t\d+ = select\(exp", text)) == 2
    assert np.isfinite(E.evaluate(unary_expr("Softplus", {}), np.array([1e30]))).all()
