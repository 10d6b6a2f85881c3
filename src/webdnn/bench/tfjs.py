"""Export a CNN's optimized IR as a TensorFlow.js tf.layers spec with the SAME weights.

bench/tools/tfjs-save-layers.mjs rebuilds the network with tf.layers (NHWC) from `tfjs.json` and
`tfjs.bin` and saves it as TF.js's own model files (what the page loads): Conv (dense or depthwise)
with its folded BatchNorm and fused Relu/Relu6, pools, Add, Concat, Flatten, Gemm. ONNX's symmetric
explicit padding becomes a ZeroPadding2D layer followed by a 'valid' conv/pool, which is exact for
convolutions, for AveragePool with count_include_pad=1, and for MaxPool whose input is non-negative
(after a Relu). Anything else raises `NotExportable`, and the model gets no TF.js row.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from webdnn.ir.graph import Graph, Node, Value


class NotExportable(Exception):
    """The graph uses something the tf.layers translation does not cover exactly."""


def _activation(node: Node) -> str:
    a = node.attrs.get("activation")
    if a is None:
        return "linear"
    if a.get("type") == "Relu":
        return "relu"
    if a.get("type") == "Clip" and float(a.get("min", -np.inf)) == 0.0 and float(a.get("max", np.inf)) == 6.0:
        return "relu6"
    raise NotExportable(f"{node.name}: fused activation {a}")


def _nonnegative(v: Value) -> bool:
    p = v.producer
    if p is None:
        return False
    if p.op_type == "Relu":
        return True
    if p.op_type in ("Conv", "Gemm"):
        return _activation(p) in ("relu", "relu6")
    if p.op_type in ("MaxPool", "AveragePool", "GlobalAveragePool"):
        return _nonnegative(p.inputs[0])  # type: ignore[arg-type]
    if p.op_type == "Concat":
        return all(i is not None and _nonnegative(i) for i in p.inputs)
    return False


def _pool_out_ok(node: Node, v: Value) -> None:
    """ceil_mode must not matter: (in + pads - k) divisible by the stride on every axis."""
    assert v.shape is not None
    k, s, p = node.attrs["kernel_shape"], node.attrs["strides"], node.attrs["pads"]
    if node.attrs.get("ceil_mode", 0):
        for ax in range(2):
            if (v.shape[2 + ax] + p[ax] + p[ax + 2] - k[ax]) % s[ax]:
                raise NotExportable(f"{node.name}: ceil_mode changes the output size")


class _Writer:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.offset = 0

    def add(self, a: np.ndarray) -> dict[str, Any]:
        a = np.ascontiguousarray(a, dtype="<f4")
        ref = {"offset": self.offset, "size": int(a.size), "shape": list(a.shape)}
        self.chunks.append(a.tobytes())
        self.offset += a.nbytes
        return ref


def export(graph: Graph, out_dir: str) -> dict[str, Any]:
    """Write tfjs.json + tfjs.bin for `graph` (one NCHW float input, one output) into out_dir."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise NotExportable("only single-input, single-output CNNs")
    inp, outp = graph.inputs[0], graph.outputs[0]
    if inp.shape is None or len(inp.shape) != 4 or outp.shape is None:
        raise NotExportable("input must be a static NCHW image")
    n, c, h, w = inp.shape
    wr = _Writer()
    ops: list[dict[str, Any]] = []
    gap_outputs: set[str] = set()  # GlobalAveragePool outputs: [N, C] in tf.layers, so Flatten is a no-op
    flat_from: dict[str, tuple[int, ...]] = {}
    for node in graph.nodes:
        ins = [i.name for i in node.inputs if i is not None]
        out = node.outputs[0].name
        t = node.op_type
        if t == "Conv":
            wt = node.inputs[1].const if node.inputs[1] is not None else None
            b = node.inputs[2].const if len(node.inputs) > 2 and node.inputs[2] is not None else None
            if wt is None:
                raise NotExportable(f"{node.name}: non-constant weight")
            cout, cin_g, kh, kw = wt.shape
            group = int(node.attrs.get("group", 1))
            pads = list(node.attrs["pads"])
            if b is None:
                b = np.zeros(cout, np.float32)
            spec: dict[str, Any] = {
                "kernel": [kh, kw], "strides": list(node.attrs["strides"]), "dilations": list(node.attrs["dilations"]),
                "pads": pads, "activation": _activation(node), "inputs": ins[:1], "output": out,
            }
            if group == 1:
                spec.update(op="conv", filters=cout, weight=wr.add(wt.transpose(2, 3, 1, 0)))
            elif cin_g == 1 and group == cout:
                spec.update(op="depthwise", weight=wr.add(wt.transpose(2, 3, 0, 1)))
            else:
                raise NotExportable(f"{node.name}: grouped conv (group {group})")
            spec["bias"] = wr.add(b)
            ops.append(spec)
        elif t in ("MaxPool", "AveragePool"):
            x = node.inputs[0]
            assert x is not None
            pads = list(node.attrs["pads"])
            if any(d != 1 for d in node.attrs.get("dilations", [1, 1])):
                raise NotExportable(f"{node.name}: dilated pooling")
            if any(pads):
                if t == "MaxPool" and not _nonnegative(x):
                    raise NotExportable(f"{node.name}: padded MaxPool on a possibly negative input")
                if t == "AveragePool" and not node.attrs.get("count_include_pad", 0):
                    raise NotExportable(f"{node.name}: padded AveragePool with count_include_pad=0")
            _pool_out_ok(node, x)
            ops.append({"op": "maxpool" if t == "MaxPool" else "avgpool", "kernel": list(node.attrs["kernel_shape"]),
                        "strides": list(node.attrs["strides"]), "pads": pads, "inputs": ins, "output": out})
        elif t == "GlobalAveragePool":
            users = [u.op_type for u in graph.nodes if any(i is node.outputs[0] for i in u.inputs)]
            if users != ["Flatten"]:
                raise NotExportable(f"{node.name}: GlobalAveragePool feeding {users} (only Flatten is translated)")
            ops.append({"op": "gap", "inputs": ins, "output": out})
            gap_outputs.add(out)
        elif t == "Add":
            ops.append({"op": "add", "inputs": ins, "output": out})
        elif t == "Concat":
            if int(node.attrs.get("axis", 1)) != 1:
                raise NotExportable(f"{node.name}: Concat on axis {node.attrs.get('axis')}")
            ops.append({"op": "concat", "inputs": ins, "output": out})
        elif t == "Relu":
            ops.append({"op": "relu", "inputs": ins, "output": out})
        elif t == "Flatten":
            x = node.inputs[0]
            assert x is not None and x.shape is not None
            if x.name in gap_outputs:
                ops.append({"op": "gap_flatten_noop", "inputs": ins, "output": out})
            else:
                if int(node.attrs.get("axis", 1)) != 1 or len(x.shape) != 4:
                    raise NotExportable(f"{node.name}: Flatten of shape {x.shape}")
                flat_from[out] = tuple(x.shape[1:])
                ops.append({"op": "flatten", "inputs": ins, "output": out})
        elif t == "Gemm":
            a, bw = node.inputs[0], node.inputs[1]
            assert a is not None and bw is not None
            if bw.const is None or node.attrs.get("transA", 0) or float(node.attrs.get("alpha", 1.0)) != 1.0:
                raise NotExportable(f"{node.name}: Gemm form")
            wm = bw.const.T if node.attrs.get("transB", 0) else bw.const  # [K, N]
            if a.name in flat_from:  # NCHW flatten order -> NHWC flatten order
                cc, hh, ww = flat_from[a.name]
                wm = wm.reshape(cc, hh, ww, -1).transpose(1, 2, 0, 3).reshape(cc * hh * ww, -1)
            cv = node.inputs[2].const if len(node.inputs) > 2 and node.inputs[2] is not None else None
            bias = np.zeros(wm.shape[1], np.float32) if cv is None else cv * float(node.attrs.get("beta", 1.0))
            ops.append({"op": "dense", "units": int(wm.shape[1]), "weight": wr.add(wm), "bias": wr.add(bias),
                        "activation": _activation(node), "inputs": ins, "output": out})
        else:
            raise NotExportable(f"{node.name}: op {t}")
    # A Flatten right after GlobalAveragePool: the layer already gives [N, C]; alias it.
    final: list[dict[str, Any]] = []
    alias: dict[str, str] = {}
    for op in ops:
        op["inputs"] = [alias.get(i, i) for i in op["inputs"]]
        if op["op"] == "gap_flatten_noop":
            alias[op["output"]] = op["inputs"][0]
            continue
        final.append(op)
    spec_json = {
        "input": {"name": inp.name, "shape": [n, h, w, c]},
        "output": {"name": alias.get(outp.name, outp.name), "shape": list(outp.shape)},
        "ops": final,
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tfjs.json"), "w") as f:
        json.dump(spec_json, f)
    with open(os.path.join(out_dir, "tfjs.bin"), "wb") as f:
        for ch in wr.chunks:
            f.write(ch)
    return {"ops": len(final), "bytes": wr.offset}
