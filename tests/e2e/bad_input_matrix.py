"""The bad-input matrix: every way a user, a caller or a damaged file can go wrong, each run for real
(the CLI in a subprocess, the runtime in Node), with the error it gives. `collect()` runs them;
`python -m tests.e2e.bad_input_matrix --write` renders docs/reliability.md from the result, and
tests/e2e/test_bad_input_matrix.py checks that every case is a clear error and that the document
is current.

A case passes when it fails cleanly: the CLI exits non-zero with one `error:` line and no Python
traceback; the runtime throws a `WebDNNError` subclass. Paths in messages are shown relative to the
case's scratch directory (`<tmp>`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from webdnn.browser.paths import runtime_dist, runtime_tool
from webdnn.convert import convert

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "reliability.md")


@dataclass
class Row:
    layer: str  # "CLI" or "runtime"
    case: str
    ok: bool  # failed cleanly
    error: str  # exit status or error class
    message: str


def _model(opset: int = 17, op: str = "Relu", domain: str = "") -> onnx.ModelProto:
    """x [2, 8] -> Gemm(w [4, 8], transB) -> op -> y."""
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32), "w")
    g = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["h"], transB=1, name="gemm"),
         helper.make_node(op, ["h"], ["y"], name="act", domain=domain)],
        "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [w],
    )
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    m = helper.make_model(g, opset_imports=imports)
    m.ir_version = 8
    return m


def _clean(text: str, tmp: str) -> str:
    text = text.replace(os.path.realpath(tmp), "<tmp>").replace(tmp, "<tmp>")
    return " ".join(text.split())


def _cli(tmp: str, case: str, args: list[str], cwd: str | None = None) -> Row:
    p = subprocess.run([sys.executable, "-m", "webdnn.cli", *args], capture_output=True, text=True,
                       cwd=cwd or tmp, timeout=300)
    err = p.stderr.strip()
    lines = [ln for ln in err.splitlines() if ln.startswith("error:") or "Error:" in ln]
    ok = p.returncode != 0 and "Traceback" not in err and bool(lines)
    return Row("CLI", case, ok, f"exit {p.returncode}", _clean(lines[-1] if lines else err[-300:], tmp))


def _cli_cases(tmp: str) -> list[Row]:
    good = os.path.join(tmp, "good.onnx")
    onnx.save(_model(), good)
    model_dir = os.path.join(tmp, "good")
    convert(good, model_dir, backends=["fallback"])
    rows = []
    # foreign output directory: a web app's public/ with a PWA manifest.json
    pub = os.path.join(tmp, "public")
    os.makedirs(os.path.join(pub, "js"))
    with open(os.path.join(pub, "manifest.json"), "w") as f:
        f.write('{"name": "My PWA"}')
    with open(os.path.join(pub, "index.html"), "w") as f:
        f.write("<!doctype html>")
    rows.append(_cli(tmp, "convert -o a non-empty directory that is not a WebDNN model (a PWA's public/)",
                     ["convert", good, "-o", pub]))
    assert os.path.exists(os.path.join(pub, "index.html")), "the foreign directory was touched"
    with open(os.path.join(tmp, "afile"), "w") as f:
        f.write("x")
    o = lambda name: os.path.join(tmp, name)  # noqa: E731
    rows.append(_cli(tmp, "convert -o a path under a regular file", ["convert", good, "-o", o("afile/out")]))
    rows.append(_cli(tmp, "convert --input-shape x=-1,8", ["convert", good, "-o", o("o1"), "--input-shape", "x=-1,8"]))
    p40 = os.path.join(tmp, "opset40.onnx")
    onnx.save(_model(opset=40), p40)
    rows.append(_cli(tmp, "convert a model of opset 40 (newer than onnx defines)", ["convert", p40, "-o", o("o2")]))
    custom = os.path.join(tmp, "custom.onnx")
    onnx.save(_model(op="MyOp", domain="com.example"), custom)
    rows.append(_cli(tmp, "convert a model with a custom-domain operator", ["convert", custom, "-o", o("o3")]))
    text = os.path.join(tmp, "notes.onnx")
    with open(text, "w") as f:
        f.write("this is not a model\n")
    rows.append(_cli(tmp, "convert a file that is not ONNX", ["convert", text, "-o", o("o4")]))
    trunc = os.path.join(tmp, "truncated.onnx")
    with open(good, "rb") as f, open(trunc, "wb") as g:
        g.write(f.read()[:-40])
    rows.append(_cli(tmp, "convert a truncated ONNX file", ["convert", trunc, "-o", o("o5")]))
    rows.append(_cli(tmp, "convert a missing file", ["convert", o("missing.onnx"), "-o", o("o6")]))
    for name, arr in [("nhwc", np.zeros((8, 2), np.float32)), ("f64", np.zeros((2, 8), np.float64))]:
        np.save(os.path.join(tmp, f"{name}.npy"), arr)
    out = os.path.join(tmp, "y.npz")
    rows.append(_cli(tmp, "run with an input of the wrong shape ([8, 2] for [2, 8])",
                     ["run", model_dir, "--node", "--input", f"x={tmp}/nhwc.npy", "-o", out]))
    rows.append(_cli(tmp, "run with a float64 input for a float32 model",
                     ["run", model_dir, "--node", "--input", f"x={tmp}/f64.npy", "-o", out]))
    rows.append(_cli(tmp, "run with an unknown input name",
                     ["run", model_dir, "--node", "--input", f"z={tmp}/nhwc.npy", "-o", out]))
    rows.append(_cli(tmp, "run a directory that holds no model",
                     ["run", pub, "--node", "--input", f"x={tmp}/nhwc.npy", "-o", out]))
    rows.append(_cli(tmp, "verify with an input of the wrong shape",
                     ["verify", good, "--node", "--input", f"x={tmp}/nhwc.npy"]))
    return rows


def _runtime_cases(tmp: str) -> list[Row]:
    src = os.path.join(tmp, "gemm.onnx")
    onnx.save(_model(), src)
    model_dir = os.path.join(tmp, "rt-model")
    convert(src, model_dir, backends=["fallback", "wasm"])
    scratch = os.path.join(tmp, "scratch")
    os.makedirs(scratch)
    runtime_dist()
    p = subprocess.run(["node", runtime_tool("bad-input-matrix.mjs"), model_dir, scratch],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"bad-input-matrix.mjs failed:\n{p.stderr[-3000:]}")
    rows = json.loads(p.stdout.strip().splitlines()[-1])
    return [Row("runtime", r["case"], r["outcome"] == "error", r["error"] or "(no error)", _clean(r["message"], tmp))
            for r in rows]


def collect() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="webdnn-bad-inputs-") as tmp:
        return _cli_cases(tmp) + _runtime_cases(tmp)


def render(rows: list[Row]) -> str:
    clean = sum(r.ok for r in rows)
    out = [
        "# Reliability: bad inputs and what they give",
        "",
        "Generated by `python -m tests.e2e.bad_input_matrix --write` from a real run of every case (the CLI in a",
        "subprocess, the runtime in Node); `tests/e2e/test_bad_input_matrix.py` runs them again in `make test`",
        "and fails if a case stops failing cleanly or this table is out of date. A clean failure: the CLI exits",
        "non-zero with one `error:` line and no traceback; the runtime throws a `WebDNNError` subclass",
        "(`InputError`, `DescriptorError`, `LoadError`, `BackendUnavailableError`, `WebGPUError`).",
        "",
        f"**{clean} of {len(rows)} cases fail cleanly.**",
        "",
        "| where | case | error | message |",
        "|---|---|---|---|",
    ]
    for r in rows:
        msg = r.message.replace("|", "\\|")
        out.append(f"| {r.layer} | {r.case} | {'' if r.ok else '⚠ '}{r.error} | {msg} |")
    out += [
        "",
        "Other reliability checks in `make test`:",
        "",
        "- the descriptor fuzzer (`tests/e2e/test_descriptor_fuzz.py`): seeded byte flips, truncations and field",
        "  edits of descriptors and weights, each loaded and run; every outcome a `WebDNNError` or the unchanged",
        "  answer, never a trap, a hang or garbage;",
        "- memory (`tests/e2e/test_memory.py`): 1,000 runs and 20 load/run/dispose cycles per backend in Node, 300",
        "  runs and 10 cycles per backend in Chromium, with the figures printed;",
        "- page policies (`tests/e2e/test_policies.py`): strict CSP with and without `'wasm-unsafe-eval'`, Trusted",
        "  Types, `worker-src 'none'`, no COOP/COEP;",
        "- special values (`tests/e2e/test_special_values.py`): NaN, ±inf, masked Softmax rows and out-of-range",
        "  indices on every backend against onnxruntime;",
        "- inputs copied at call time (`tests/e2e/test_input_copy.py`) and conversion that never deletes a file it",
        "  did not write (`tests/test_convert.py`).",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    text = render(collect())
    if "--write" in sys.argv:
        with open(DOC, "w") as f:
            f.write(text)
        print(f"wrote {os.path.relpath(DOC)}")
    else:
        print(text)
