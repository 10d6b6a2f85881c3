"""Prepare one benchmark model: seeded ONNX, inputs, native reference, WebDNN conversion, TF.js spec, FLOPs."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from webdnn.errors import UnsupportedOperatorError
from webdnn.ir.graph import Graph

Say = Callable[[str], None]

# The benchmark models (zoo names) and their inputs: images at the builders' sizes, MiniLM at sequence 128
# ("minilm@N": at sequence N, with WebDNN rows for the model converted for N and for the one converted
# once for every length, `DYNAMIC_MAX_SEQ` at most; "resnet50-qdq", "minilm-dynamic": the model quantized
# by onnxruntime's quantizer in that format (zoo/quantized.py), every runtime running the quantized file;
# "demo-recognition" and the other demo_models.DEMO_MODELS: the demo site's real models on the pages' inputs).
MODELS = ["vgg16", "resnet50", "inception_v3", "mobilenet_v2", "squeezenet1_1", "minilm", "lstm"]
SEQ_LEN = 128
DYNAMIC_MAX_SEQ = 512
CNNS = {"vgg16", "resnet50", "inception_v3", "mobilenet_v2", "squeezenet1_1"}


@dataclass
class PreparedModel:
    name: str
    directory: str
    onnx_path: str
    inputs: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    flops: int
    webdnn_dir: str | None = None
    webdnn_dynamic_dir: str | None = None  # "minilm@N": the conversion with a symbolic length, shared by every N
    webdnn_backends: dict[str, str] = field(default_factory=dict)  # backend -> "ok" | "unsupported: ..." | "error: ..."
    convert_seconds: float = 0.0
    tfjs_dir: str | None = None
    tfjs_status: str = "not attempted"
    # The same CNN through WebDNN's Keras and TF.js frontends ("webdnn-keras"/"webdnn-tfjs" rows, wasm):
    # runtime -> the converted directory, or the reason there is none.
    frontend_dirs: dict[str, str] = field(default_factory=dict)
    frontend_status: dict[str, str] = field(default_factory=dict)
    # The model converted with smaller weights ("webdnn-fp16"/"webdnn-int8"/"webdnn-int4" rows): runtime -> "ok"
    # or the error, and the backends those conversions are for.
    encoded_status: dict[str, str] = field(default_factory=dict)
    encoded_backends: list[str] = field(default_factory=list)


def flop_count(graph: Graph) -> int:
    """2 * multiply-accumulates of Conv, Gemm, MatMul and the recurrent layers (static shapes from the IR)."""
    total = 0
    for n in graph.nodes:
        out = n.outputs[0].shape
        if out is None:
            continue
        if n.op_type == "Conv":
            w = n.inputs[1]
            assert w is not None and w.shape is not None
            total += 2 * int(np.prod(out)) * int(np.prod(w.shape[1:]))
        elif n.op_type == "Gemm":
            a = n.inputs[0]
            assert a is not None and a.shape is not None
            k = a.shape[0] if n.attrs.get("transA", 0) else a.shape[1]
            total += 2 * int(np.prod(out)) * int(k)
        elif n.op_type == "MatMul":
            a = n.inputs[0]
            assert a is not None and a.shape is not None
            total += 2 * int(np.prod(out)) * int(a.shape[-1])
        elif n.op_type in ("LSTM", "GRU", "RNN"):  # the input and recurrent projections of every step
            w, r = n.inputs[1], n.inputs[2]
            assert w is not None and w.shape is not None and r is not None and r.shape is not None
            x = n.inputs[0]
            assert x is not None and x.shape is not None
            dirs, gh, width = (int(d) for d in w.shape)
            total += 2 * int(x.shape[0]) * int(x.shape[1]) * dirs * gh * (width + int(r.shape[2]))
    return total


def _input_shapes(name: str, inputs: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in inputs.items()}


def _conversion_shapes(name: str, inputs: dict[str, np.ndarray]) -> dict[str, tuple[int | str, ...]]:
    """The input shapes WebDNN converts `name` for: a demo page's own (demo_models.page_shapes: the similarity page
    converts MiniLM once for every length), else the inputs' sizes."""
    from webdnn.bench import demo_models

    return demo_models.page_shapes(name) or _input_shapes(name, inputs)


def native_reference(onnx_path: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of native onnxruntime (CPU, one thread, all graph optimizations): the reference of every row."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs), strict=True))


FRONTEND_FILES = {"webdnn-keras": "model.keras", "webdnn-tfjs": "model.json"}
# runtime -> `webdnn convert --weights`
ENCODINGS = {"webdnn-fp16": "fp16", "webdnn-int8": "int8", "webdnn-int4": "int4"}


def prepare(name: str, root: str, backends: Sequence[str], want_webdnn: bool, want_tfjs: bool,
            say: Say, want_frontends: Sequence[str] = (), want_encoded: Sequence[str] = (),
            encoded_backends: Sequence[str] = ()) -> PreparedModel:
    """Build `name`, write it and its inputs under root/name, convert it for `backends` (and, per runtime of
    `want_encoded`, with that weight encoding for `encoded_backends`)."""
    from webdnn import zoo
    from webdnn.bench import demo_models
    from webdnn.frontend.onnx import from_onnx
    from webdnn.passes.pipeline import optimize
    from webdnn.zoo import quantized

    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "inputs"), exist_ok=True)
    onnx_path = os.path.join(d, "model.onnx")
    base, _, at = name.partition("@")
    base, _, fmt = base.rpartition("-") if base.rpartition("-")[2] in quantized.FORMATS else (base, "", "")
    if name in demo_models.DEMO_MODELS:
        model, inputs = demo_models.build(name)
    else:
        model = zoo.build(base, seed=0, opset=17)
        inputs = zoo.default_inputs(base, model, seed=0, seq_len=int(at) if at else SEQ_LEN)
    flops_graph = from_onnx(model, _input_shapes(name, inputs), name=name)  # a quantized model does the same MACs
    optimize(flops_graph)
    if not os.path.exists(onnx_path):
        if fmt:
            say(f"{name}: quantizing with onnxruntime.quantization ({fmt})")
            quantized.write(base, fmt, onnx_path)
        else:
            zoo.save(model, onnx_path)  # (a demo model's file as its package ships it, or as webdnn builds it)
    if fmt:
        model = onnx.load(onnx_path)
    say(f"{name}: native onnxruntime reference")
    reference = native_reference(onnx_path, inputs)
    shapes = _conversion_shapes(name, inputs)
    graph = flops_graph
    pm = PreparedModel(name, d, onnx_path, inputs, reference, flop_count(graph))
    for i, a in enumerate(inputs.values()):
        raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False)
        raw.tofile(os.path.join(d, "inputs", f"{i}.bin"))
    if want_webdnn and backends:
        _convert(pm, model, shapes, backends, say)
        if at:
            pm.webdnn_dynamic_dir = _convert_dynamic(base, model, inputs, root, backends, say)
    pm.encoded_backends = list(encoded_backends)
    for runtime in want_encoded:
        _convert_encoded(pm, model, shapes, runtime, say)
    if want_tfjs or want_frontends:
        if name not in CNNS:
            pm.tfjs_status = "not a CNN (TF.js rows only for the CNNs)"
        else:
            _tfjs_files(pm, graph, say)
        for runtime in want_frontends:
            if pm.tfjs_status != "ok":
                pm.frontend_status[runtime] = pm.tfjs_status
            else:
                _convert_frontend(pm, runtime, say)
    del model
    return pm


def _tfjs_files(pm: PreparedModel, graph: Graph, say: Say) -> None:
    """The CNN as TF.js's own layers files (tfjs/model.json + weights.bin), same weights: its optimized graph
    translated to tf.layers (webdnn.bench.tfjs), built and saved by TF.js in Node."""
    import subprocess

    from webdnn.bench.tfjs import NotExportable, export
    from webdnn.browser.paths import REPO_ROOT

    d = os.path.join(pm.directory, "tfjs")
    try:
        export(graph, d)
    except NotExportable as e:
        pm.tfjs_status = f"not translated to tf.layers: {e}"
        return
    say(f"{pm.name}: TF.js layers model files")
    tool = os.path.join(REPO_ROOT, "bench", "tools", "tfjs-save-layers.mjs")
    r = subprocess.run(["node", tool, d], capture_output=True, text=True)
    if r.returncode != 0:
        pm.tfjs_status = f"tfjs-save-layers.mjs failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}"
        return
    x = next(iter(pm.inputs.values()))
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).astype("<f4")
    nhwc.tofile(os.path.join(pm.directory, "inputs", "nhwc.bin"))
    pm.tfjs_dir, pm.tfjs_status = d, "ok"


def _convert_frontend(pm: PreparedModel, runtime: str, say: Say) -> None:
    """Convert the TF.js files (or the Keras file Keras makes of them, in build/keras-venv) for wasm."""
    import subprocess

    from webdnn.browser.paths import REPO_ROOT
    from webdnn.convert import convert

    assert pm.tfjs_dir is not None
    src = os.path.join(pm.tfjs_dir, FRONTEND_FILES[runtime])
    if runtime == "webdnn-keras" and not os.path.exists(src):
        py = os.path.join(REPO_ROOT, "build", "keras-venv", "bin", "python")
        if not os.path.exists(py):
            pm.frontend_status[runtime] = "no Keras to write the .keras file: run `make keras-venv`"
            return
        say(f"{pm.name}: Keras .keras file (saved by Keras from the TF.js topology)")
        tool = os.path.join(REPO_ROOT, "bench", "tools", "keras_from_tfjs.py")
        r = subprocess.run([py, tool, pm.tfjs_dir], capture_output=True, text=True)
        if r.returncode != 0:
            pm.frontend_status[runtime] = f"keras_from_tfjs.py failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}"
            return
    out = os.path.join(pm.directory, runtime)
    say(f"{pm.name}: converting {os.path.basename(src)} for wasm")
    x = next(iter(pm.inputs.values()))
    try:
        convert(src, out, ["wasm"], {"input": (x.shape[0], x.shape[2], x.shape[3], x.shape[1])}, name=pm.name)
    except Exception as e:  # recorded in the row, the other rows still run
        pm.frontend_status[runtime] = f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        return
    pm.frontend_dirs[runtime], pm.frontend_status[runtime] = out, "ok"


def _convert(pm: PreparedModel, model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]],
             backends: Sequence[str], say: Say) -> None:
    """Convert with every backend that takes the model; a backend that raises is recorded, not fatal."""
    from webdnn.convert import convert

    out = os.path.join(pm.directory, "webdnn")
    t0 = time.perf_counter()
    todo = list(backends)
    say(f"{pm.name}: converting for {', '.join(todo)}")
    try:
        convert(model, out, todo, shapes, name=pm.name)
        pm.webdnn_backends = {b: "ok" for b in todo}
    except Exception:  # a backend in progress may fail any way: find which, record it, go on
        ok: list[str] = []
        for b in todo:
            probe = os.path.join(pm.directory, f".probe-{b}")
            try:
                convert(model, probe, [b], shapes, name=pm.name)
                ok.append(b)
                pm.webdnn_backends[b] = "ok"
            except UnsupportedOperatorError as e:
                pm.webdnn_backends[b] = f"unsupported: {str(e).splitlines()[0]}"
            except Exception as e:
                pm.webdnn_backends[b] = f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            finally:
                shutil.rmtree(probe, ignore_errors=True)
        if ok:
            convert(model, out, ok, shapes, name=pm.name)
    pm.convert_seconds = time.perf_counter() - t0
    if any(v == "ok" for v in pm.webdnn_backends.values()):
        pm.webdnn_dir = out
    for b, status in pm.webdnn_backends.items():
        if status != "ok":
            say(f"{pm.name}: webdnn {b}: {status}")


def _convert_encoded(pm: PreparedModel, model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]], runtime: str,
                     say: Say) -> None:
    from webdnn.convert import convert

    say(f"{pm.name}: converting with --weights {ENCODINGS[runtime]} for {', '.join(pm.encoded_backends)}")
    try:
        convert(model, os.path.join(pm.directory, runtime), pm.encoded_backends, shapes, name=pm.name,
                weights=ENCODINGS[runtime])
        pm.encoded_status[runtime] = "ok"
    except Exception as e:  # recorded in the rows, the other rows still run
        pm.encoded_status[runtime] = f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def _convert_dynamic(base: str, model: onnx.ModelProto, inputs: dict[str, np.ndarray], root: str,
                     backends: Sequence[str], say: Say) -> str | None:
    """`base` converted once with a symbolic sequence length (every input's dim 1), kept in root for
    every "base@N" of the run."""
    from webdnn.convert import convert

    out = os.path.join(root, f"{base}-dynamic", "webdnn")
    if not os.path.exists(os.path.join(out, "manifest.json")):
        say(f"{base}: converting once for every sequence length (<= {DYNAMIC_MAX_SEQ})")
        shapes = {k: (v.shape[0], f"seq<={DYNAMIC_MAX_SEQ}") for k, v in inputs.items()}
        try:
            convert(model, out, list(backends), shapes, name=f"{base}-dynamic")
        except Exception as e:  # recorded as the dynamic rows' error, the fixed rows still run
            say(f"{base}: dynamic conversion failed: {str(e).splitlines()[0]}")
            return None
    return out


def input_refs(pm: PreparedModel, url_prefix: str) -> list[dict[str, Any]]:
    """[{name, url, dtype, dims}] of the model's inputs as the page fetches them."""
    from webdnn.ir.dtypes import DType

    return [
        {"name": k, "url": f"{url_prefix}{pm.name}/inputs/{i}.bin", "dtype": DType.from_numpy(a.dtype).value,
         "dims": list(a.shape)}
        for i, (k, a) in enumerate(pm.inputs.items())
    ]
