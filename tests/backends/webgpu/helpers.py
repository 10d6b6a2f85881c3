"""What the webgpu kernel tests share: convert a family of cases, read its descriptor, and
compare a browser run with onnxruntime (fp32 tolerance, every output)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from onnx import helper

from tests.backends.webgpu.test_webgpu_kernels import Case, family
from webdnn.convert import convert
from webdnn.verify import compare, reference_outputs


def descriptor(out: str) -> dict[str, Any]:
    with open(os.path.join(out, "webgpu", "descriptor.json")) as f:
        d: dict[str, Any] = json.load(f)
    return d


def ops(out: str) -> list[str]:
    return [k["op"] for k in descriptor(out)["kernels"]]


def convert_cases(cases: dict[str, Case], tmp_path: Any, extra_outputs: tuple[str, ...] = ()) -> dict[str, Any]:
    """The webgpu descriptor of `cases` as one family model (plus `extra_outputs` as graph outputs)."""
    model, _ = family(cases)
    model.graph.output.extend(helper.make_empty_tensor_value_info(o) for o in extra_outputs)
    out = os.path.join(tmp_path, "out")
    convert(model, out, ["webgpu"])
    return descriptor(out)


def check_in_browser(gpu_browser: Any, model: Any, inputs: dict[str, np.ndarray], out: str,
                     repeat: int | None = None) -> None:
    """Run the converted `out` on webgpu in the browser; every output within fp32 tolerance."""
    ref = reference_outputs(model, inputs)
    r = gpu_browser.run_model(out, inputs, ["webgpu"], **({"repeat": repeat} if repeat is not None else {}))
    assert r.backend == "webgpu"
    bad = []
    for key, want in ref.items():
        c = compare(key, want, r.outputs.get(key))
        if not c.ok:
            bad.append(f"{key}: max abs err {c.max_abs_err:.3g} {c.detail}")
    assert not bad, "\n".join(bad)
