"""`webdnn verify`: convert, run on each backend, compare with onnxruntime."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from webdnn.convert import convert
from webdnn.errors import WebDNNError
from webdnn.frontend.onnx import load_onnx
from webdnn.verify import compare, random_inputs, reference_outputs


def verify_model(
    model_path: str,
    backends: Sequence[str],
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    inputs: Mapping[str, np.ndarray] | None = None,
    use_node: bool = False,
    repeat: int = 3,
    tolerance: float = 1e-4,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    say = progress or (lambda _m: None)
    proto = load_onnx(model_path)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="webdnn-verify-") as tmp:
        out = os.path.join(tmp, "model")
        conv = convert(proto, out, list(backends), input_shapes, progress=say,
                       name=os.path.splitext(os.path.basename(model_path))[0])
        shapes = {v.name: tuple(v.shape or ()) for v in conv.graph.inputs}
        feeds = dict(inputs) if inputs else random_inputs(proto, shapes)
        missing = set(shapes) - set(feeds)
        if missing:
            raise WebDNNError(f"inputs {sorted(missing)} not given (use --input NAME=FILE.npy)")
        say("running onnxruntime (reference)")
        ref = reference_outputs(model_path, feeds)
        for b in backends:
            say(f"running backend {b} in {'Node' if use_node else 'Chromium'}")
            entry: dict[str, Any] = {"backend": b, "ok": False, "max_abs_err": None, "ms": None}
            try:
                if use_node:
                    from webdnn.browser.node import run_model_node

                    r = run_model_node(out, feeds, [b], warmup=0, repeat=repeat)
                else:
                    from webdnn.browser.driver import Browser

                    with Browser() as browser:
                        r = browser.run_model(out, feeds, [b], warmup=0, repeat=repeat)
                comps = [compare(n, ref[n], r.outputs.get(n), tolerance) for n in ref]
                entry.update(
                    ok=all(c.ok for c in comps) and r.backend == b,
                    max_abs_err=max((c.max_abs_err for c in comps), default=0.0),
                    ms=r.median_ms, load_ms=r.load_ms, first_run_ms=r.first_run_ms,
                    outputs=[c.as_dict() for c in comps],
                )
                if r.backend != b:
                    entry["error"] = f"ran on {r.backend}, not {b}"
            except WebDNNError as e:
                entry["error"] = str(e)
            results.append(entry)
    return {"model": os.path.basename(model_path), "results": results}
