"""`webdnn verify`: convert, run on each backend, compare with onnxruntime.

A Keras, TF.js or PyTorch model is compared with onnxruntime running the ONNX graph its frontend made (the
same graph the backends start from): this checks the passes and backends; the frontends themselves are
checked against their frameworks by the tests (tests/frontend)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx

from webdnn.browser.driver import ENGINE_NAMES
from webdnn.browser.io import check_inputs, model_inputs
from webdnn.convert import convert
from webdnn.errors import WebDNNError
from webdnn.frontend.detect import load_model
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
    engine: str = "chromium",
) -> dict[str, Any]:
    say = progress or (lambda _m: None)
    loaded = load_model(model_path, say=say)
    proto = loaded.proto
    results: list[dict[str, Any]] = []
    shapes_given = {**_dynamic_shapes_from(proto, inputs or {}), **dict(input_shapes or {})}
    with tempfile.TemporaryDirectory(prefix="webdnn-verify-") as tmp:
        out = os.path.join(tmp, "model")
        conv = convert(proto, out, list(backends), shapes_given, progress=say,
                       name=os.path.splitext(os.path.basename(os.path.normpath(model_path)))[0])
        shapes = {v.name: tuple(v.shape or ()) for v in conv.graph.inputs}
        feeds = dict(inputs) if inputs else random_inputs(proto, shapes)
        missing = set(shapes) - set(feeds)
        if missing:
            raise WebDNNError(f"inputs {sorted(missing)} not given (use --input NAME=FILE.npy)")
        specs = model_inputs(out)
        check_inputs(feeds, specs, os.path.basename(model_path))
        # int32 data for an int64 input is widened (as the runtime does) so onnxruntime takes it too
        dtypes = {s["name"]: s["dtype"] for s in specs}
        feeds = {n: a.astype(np.int64) if a.dtype == np.int32 and dtypes[n] == "int64" else a
                 for n, a in feeds.items()}
        say("running onnxruntime (reference)")
        try:
            ref = reference_outputs(model_path if loaded.format == "onnx" else proto, feeds)
        except Exception as e:  # onnxruntime's own exception types
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise WebDNNError(f"onnxruntime (the reference) could not run {model_path}: {type(e).__name__}: "
                              f"{first}") from None
        for b in backends:
            say(f"running backend {b} in {'Node' if use_node else ENGINE_NAMES.get(engine, engine)}")
            entry: dict[str, Any] = {"backend": b, "ok": False, "max_abs_err": None, "ms": None}
            try:
                if use_node:
                    from webdnn.browser.node import run_model_node

                    r = run_model_node(out, feeds, [b], warmup=0, repeat=repeat)
                else:
                    from webdnn.browser.driver import Browser

                    with Browser(engine=engine) as browser:
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
    return {"model": os.path.basename(os.path.normpath(model_path)), "format": loaded.format,
            "reference": "onnxruntime" if loaded.format == "onnx" else f"onnxruntime on the {loaded.format} frontend's "
                                                                        "ONNX graph",
            "results": results}


def _dynamic_shapes_from(model: onnx.ModelProto, inputs: Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    """Shapes of given inputs for model inputs with dynamic (or undeclared) dims, where the array fits the
    declared rank and fixed dims: verify runs the model at the shape of the data it is given."""
    out: dict[str, tuple[int, ...]] = {}
    for inp in model.graph.input:
        a = inputs.get(inp.name)
        if not isinstance(a, np.ndarray) or not inp.type.HasField("tensor_type"):
            continue
        tt = inp.type.tensor_type
        if not tt.HasField("shape"):
            out[inp.name] = tuple(int(d) for d in a.shape)
            continue
        dims = list(tt.shape.dim)
        fixed = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if None not in fixed or len(fixed) != a.ndim:
            continue
        if all(f is None or f == s for f, s in zip(fixed, a.shape, strict=True)):
            out[inp.name] = tuple(int(d) for d in a.shape)
    return out
