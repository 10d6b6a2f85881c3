"""Keras sequence and text layers as ONNX nodes: Embedding, LayerNormalization, the recurrent layers (LSTM, GRU,
SimpleRNN, each also inside Bidirectional), MultiHeadAttention, Attention and AdditiveAttention. Registered in
keras_layers.LAYERS like the others (see there for the calling convention).

Recurrent layers become ONNX LSTM / GRU / RNN nodes in batch-first layout (layout=1), so the passes and the
backends treat them as they treat an ONNX model's (the wasm backend's native LSTM kernel included). Keras
orders an LSTM's gates i, f, c, o and ONNX i, o, f, c; GRU's z, r, h match.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from webdnn.errors import UnsupportedOperatorError
from webdnn.frontend.keras_builder import Builder, KTensor
from webdnn.frontend.keras_layers import Layer, layer


def _unsupported(b: Builder, lay: Layer, why: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"{b.source}: layer '{lay.name}' ({lay.class_name}): {why}")


@layer("Embedding")
def embedding(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    if lay.get("mask_zero", False):
        raise _unsupported(b, lay, "mask_zero=True (masking the layers after it) is not supported")
    table = lay.weight("embeddings", b.source)
    x = b.plain(ins[0], lay.name)
    y = b.one("Gather", [b.const(table, f"{lay.name}/embeddings"), x.name], lay.name, axis=0)
    return [KTensor(y, (*x.shape, int(table.shape[1])))]


@layer("LayerNormalization")
def layer_norm(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    x = b.plain(ins[0], lay.name)
    axes = lay.get("axis", -1)
    axes = sorted({int(a) % x.rank for a in (axes if isinstance(axes, list) else [axes])})
    if axes != list(range(axes[0], x.rank)):
        raise _unsupported(b, lay, f"axis {lay.get('axis')} (the normalized axes must run to the last one)")
    norm_shape = [int(d) for d in x.shape[axes[0]:] if d is not None]
    if len(norm_shape) != x.rank - axes[0]:
        raise _unsupported(b, lay, "normalized axes of unknown size")
    eps = float(lay.get("epsilon", 1e-3))
    gamma = lay.weights.get("gamma", np.ones(norm_shape, np.float32)).reshape(norm_shape)
    beta = lay.weights.get("beta", np.zeros(norm_shape, np.float32)).reshape(norm_shape)
    if lay.get("rms_scaling", False):  # Keras 3: x / sqrt(mean(x^2) + eps) * gamma
        ms = b.one("ReduceMean", [b.one("Mul", [x.name, x.name], lay.name)], lay.name, axes=axes, keepdims=1)
        inv = b.one("Reciprocal", [b.one("Sqrt", [b.one("Add", [ms, b.const(eps, f"{lay.name}/eps")], lay.name)],
                                         lay.name)], lay.name)
        y = b.one("Mul", [b.one("Mul", [x.name, inv], lay.name), b.const(gamma, f"{lay.name}/gamma")], lay.name)
        return [KTensor(y, x.shape)]
    y = b.one("LayerNormalization", [x.name, b.const(gamma, f"{lay.name}/gamma"), b.const(beta, f"{lay.name}/beta")],
              lay.name, axis=axes[0], epsilon=eps)
    return [KTensor(y, x.shape)]


# --- recurrent layers ----------------------------------------------------------------------------------
_ONNX_OP = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}
_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}


def _act(b: Builder, lay: Layer, fn: Any, keras_version: str) -> tuple[str, float | None, float | None]:
    """A Keras activation as an ONNX recurrent activation: (name, alpha, beta)."""
    if isinstance(fn, dict):
        fn = fn.get("config", {}).get("name") or fn.get("class_name")
    name = str(fn or "linear").lower()
    table = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "softsign": "Softsign", "softplus": "Softplus",
             "elu": "Elu"}
    if name in table:
        return table[name], (1.0 if name == "elu" else None), None
    if name == "hard_sigmoid":  # Keras 2: clip(0.2x + 0.5); Keras 3: relu6(x + 3) / 6
        return "HardSigmoid", 0.2 if keras_version.startswith("2") else 1.0 / 6.0, 0.5
    if name == "linear":
        return "Affine", 1.0, 0.0
    raise _unsupported(b, lay, f"recurrent activation {fn!r} is not supported")


def _weights(kind: str, units: int, w: dict[str, np.ndarray], prefix: str,
             reset_after: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX W [gates·u, in], R [gates·u, u], B [2·gates·u] of one direction from Keras' kernel / recurrent_kernel
    / bias."""
    k, r = w[prefix + "kernel"], w[prefix + "recurrent_kernel"]
    g = _GATES[kind]
    bias = w.get(prefix + "bias")
    if kind == "GRU" and reset_after:
        bias = np.zeros((2, g * units), np.float32) if bias is None else bias.reshape(2, g * units)
        bw, br = bias[0], bias[1]
    else:
        bw = np.zeros(g * units, np.float32) if bias is None else bias.reshape(-1)
        br = np.zeros_like(bw)
    if kind == "LSTM":  # Keras i, f, c, o -> ONNX i, o, f, c

        def order(a: np.ndarray) -> np.ndarray:
            i, f, c, o = np.split(a, 4, axis=-1)
            return np.concatenate([i, o, f, c], axis=-1)

        k, r, bw, br = order(k), order(r), order(bw), order(br)
    return k.T.astype(np.float32), r.T.astype(np.float32), np.concatenate([bw, br]).astype(np.float32)


def _recurrent(b: Builder, lay: Layer, x: KTensor, cfg: dict[str, Any], kind: str, directions: list[str],
               direction: str) -> tuple[str, str, str | None, int]:
    """The ONNX recurrent node for `lay` (one or both directions): its Y [B, T, dirs, u], Y_h [B, dirs, u], Y_c
    and the unit count."""
    if cfg.get("stateful", False):
        raise _unsupported(b, lay, "stateful=True is not supported (the state lives across calls)")
    units = int(cfg["units"])
    reset_after = bool(cfg.get("reset_after", True))  # Keras 2 and 3's default
    ws, rs, bs = zip(*(_weights(kind, units, lay.weights, p, reset_after) for p in directions), strict=True)
    acts = []
    if kind in ("LSTM", "GRU"):
        acts.append(_act(b, lay, cfg.get("recurrent_activation", "sigmoid"), lay.keras_version))
    acts.append(_act(b, lay, cfg.get("activation", "tanh"), lay.keras_version))
    if kind == "LSTM":
        acts.append(acts[-1])
    names = [a[0] for a in acts] * len(directions)
    alphas = [a[1] for a in acts if a[1] is not None] * len(directions)
    betas = [a[2] for a in acts if a[2] is not None] * len(directions)
    attrs: dict[str, Any] = {"hidden_size": units, "direction": direction, "layout": 1, "activations": names}
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    if kind == "GRU":
        attrs["linear_before_reset"] = int(reset_after)
    args = [x.name, b.const(np.stack(ws), f"{lay.name}/W"), b.const(np.stack(rs), f"{lay.name}/R"),
            b.const(np.stack(bs), f"{lay.name}/B")]
    outs = 3 if kind == "LSTM" else 2
    ys = b.node(_ONNX_OP[kind], args, lay.name, outputs=outs, **attrs)
    return ys[0], ys[1], ys[2] if kind == "LSTM" else None, units


def _flat(b: Builder, v: str, shape: list[int], base: str) -> str:
    return b.one("Reshape", [v, b.const(shape, f"{base}/shape", np.int64)], base)


@layer("LSTM", "GRU", "SimpleRNN")
def recurrent(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    if len(ins) > 1:
        raise _unsupported(b, lay, "an initial state given as an input is not supported")
    x = b.plain(ins[0], lay.name)
    backwards = bool(lay.get("go_backwards", False))
    y, h, c, units = _recurrent(b, lay, x, lay.config, lay.class_name, [""], "reverse" if backwards else "forward")
    batch, steps = x.shape[0], x.shape[1]
    if lay.get("return_sequences", False):
        seq = _flat(b, y, [0, -1, units], lay.name)  # [B, T, 1, u] -> [B, T, u] (0: batch as it is)
        if backwards:  # Keras returns the reversed pass's outputs in the order it produced them
            seq = b.one("Slice", [seq, b.const([-1], f"{lay.name}/s", np.int64), b.const([-(2**62)], f"{lay.name}/e",
                                                                                           np.int64),
                                  b.const([1], f"{lay.name}/ax", np.int64), b.const([-1], f"{lay.name}/st", np.int64)],
                        lay.name)
        out = KTensor(seq, (batch, steps, units))
    else:
        out = KTensor(_flat(b, h, [0, units], lay.name), (batch, units))
    if not lay.get("return_state", False):
        return [out]
    states = [KTensor(_flat(b, h, [0, units], lay.name), (batch, units))]
    if c is not None:
        states.append(KTensor(_flat(b, c, [0, units], lay.name), (batch, units)))
    return [out, *states]


@layer("Bidirectional")
def bidirectional(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    inner = lay.get("layer") or {}
    kind = str(inner.get("class_name"))
    cfg = dict(inner.get("config") or {})
    if kind not in _ONNX_OP:
        raise _unsupported(b, lay, f"a Bidirectional {kind} (LSTM, GRU and SimpleRNN are supported)")
    back = (lay.get("backward_layer") or {}).get("config") or {}
    for key in ("units", "activation", "recurrent_activation", "reset_after", "use_bias"):
        if back and key in back and back.get(key) != cfg.get(key):
            raise _unsupported(b, lay, f"forward and backward layers differ in {key}")
    if cfg.get("go_backwards", False):
        raise _unsupported(b, lay, "a wrapped layer with go_backwards=True")
    if cfg.get("return_state", False) or len(ins) > 1:
        raise _unsupported(b, lay, "return_state and initial states are not supported")
    x = b.plain(ins[0], lay.name)
    y, h, _, units = _recurrent(b, lay, x, cfg, kind, ["forward_", "backward_"], "bidirectional")
    mode = lay.get("merge_mode", "concat")
    batch, steps = x.shape[0], x.shape[1]
    seq = bool(cfg.get("return_sequences", False))
    v, axis, lead = (y, 2, [0, -1]) if seq else (h, 1, [0])  # Y [B, T, 2, u] or Y_h [B, 2, u]
    shape = (batch, steps) if seq else (batch,)
    if mode == "concat":
        return [KTensor(_flat(b, v, [*lead, 2 * units], lay.name), (*shape, 2 * units))]
    if mode in ("sum", "ave", "mul"):
        op = {"sum": "ReduceSum", "ave": "ReduceMean", "mul": "ReduceProd"}[mode]
        if op == "ReduceSum":
            r = b.one(op, [v, b.const([axis], f"{lay.name}/axes", np.int64)], lay.name, keepdims=0)
        else:
            r = b.one(op, [v], lay.name, axes=[axis], keepdims=0)
        return [KTensor(r, (*shape, units))]
    raise _unsupported(b, lay, f"merge_mode {mode!r} (concat, sum, ave and mul are supported)")



# --- attention -----------------------------------------------------------------------------------------
@layer("MultiHeadAttention")
def multi_head_attention(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    """softmax(Q K^T / sqrt(key_dim)) V per head, as MatMul / Softmax / Transpose (the transformer passes fuse
    what they recognize). Q, K, V: the query / key / value inputs through their EinsumDense projections
    (kernel (E, heads, dim)); the heads' outputs through the output projection (kernel (heads, dim, E'))."""
    tensors = {k: v for k, v in lay.call.items() if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__"}
    if tensors:
        raise _unsupported(b, lay, f"tensors passed by keyword ({', '.join(sorted(tensors))}: a key, an attention "
                                   "mask) are not supported; pass query, value and key positionally")
    if lay.call.get("return_attention_scores"):
        raise _unsupported(b, lay, "return_attention_scores=True is not supported")
    if lay.get("use_gate", False) or lay.get("sliding_window") is not None:
        raise _unsupported(b, lay, "use_gate and sliding_window are not supported")
    q_in, v_in = b.plain(ins[0], lay.name), b.plain(ins[1] if len(ins) > 1 else ins[0], lay.name)
    k_in = b.plain(ins[2], lay.name) if len(ins) > 2 else v_in
    if q_in.rank != 3 or lay.get("attention_axes") not in (None, [1], 1):
        raise _unsupported(b, lay, "attention over one sequence axis of [batch, steps, features] is supported")
    heads, key_dim = int(lay.get("num_heads")), int(lay.get("key_dim"))
    value_dim = int(lay.get("value_dim") or key_dim)
    base = lay.name

    def project(x: KTensor, part: str, dim: int, perm: list[int]) -> str:
        k = lay.weight(f"{part}/kernel", b.source)  # (E, heads, dim)
        y = b.one("MatMul", [x.name, b.const(k.reshape(k.shape[0], heads * dim), f"{base}/{part}/kernel")], base)
        if f"{part}/bias" in lay.weights:
            y = b.one("Add", [y, b.const(lay.weights[f"{part}/bias"].reshape(-1), f"{base}/{part}/bias")], base)
        y = b.one("Reshape", [y, b.const([0, -1, heads, dim], f"{base}/{part}/shape", np.int64)], base)
        return b.one("Transpose", [y], base, perm=perm)

    q = project(q_in, "query", key_dim, [0, 2, 1, 3])  # [B, h, Tq, d]
    q = b.one("Mul", [q, b.const(1.0 / np.sqrt(key_dim), f"{base}/scale")], base)
    k = project(k_in, "key", key_dim, [0, 2, 3, 1])  # [B, h, d, Tv]
    v = project(v_in, "value", value_dim, [0, 2, 1, 3])  # [B, h, Tv, dv]
    scores = b.one("MatMul", [q, k], base)
    if lay.call.get("use_causal_mask"):
        tq, tv = q_in.shape[1], v_in.shape[1]
        if tq is None or tv is None:
            raise _unsupported(b, lay, "use_causal_mask needs the sequence lengths known")
        allowed = np.tril(np.ones((tq, tv), bool), tv - tq)  # Keras: query i sees keys up to i (+ Tv - Tq)
        bias = np.where(allowed, 0.0, -1e9).astype(np.float32)
        scores = b.one("Add", [scores, b.const(bias, f"{base}/causal")], base)
    ctx = b.one("MatMul", [b.one("Softmax", [scores], base, axis=-1), v], base)  # [B, h, Tq, dv]
    ctx = b.one("Reshape", [b.one("Transpose", [ctx], base, perm=[0, 2, 1, 3]),
                            b.const([0, -1, heads * value_dim], f"{base}/ctx_shape", np.int64)], base)
    wo = lay.weight("attention_output/kernel", b.source)  # (heads, dv, E')
    out_dim = int(np.prod(wo.shape[2:]))
    y = b.one("MatMul", [ctx, b.const(wo.reshape(heads * value_dim, out_dim), f"{base}/out/kernel")], base)
    if "attention_output/bias" in lay.weights:
        y = b.one("Add", [y, b.const(lay.weights["attention_output/bias"].reshape(-1), f"{base}/out/bias")], base)
    if wo.ndim > 3:  # output_shape with more than one axis
        y = b.one("Reshape", [y, b.const([0, -1, *wo.shape[2:]], f"{base}/out_shape", np.int64)], base)
    return [KTensor(y, (q_in.shape[0], q_in.shape[1], *(int(d) for d in wo.shape[2:])))]


@layer("Attention", "AdditiveAttention")
def dot_or_additive_attention(b: Builder, lay: Layer, ins: list[KTensor]) -> list[KTensor]:
    """Keras' Attention (Luong: scores Q K^T, or with score_mode="concat" w * sum(tanh(s * (q + k)))) and
    AdditiveAttention (Bahdanau: sum(scale * tanh(q + k))) over [batch, steps, dim] inputs [query, value] or
    [query, value, key]; softmax over the keys, then the weighted sum of the values. The causal mask
    subtracts 1e9 as Keras does; `return_attention_scores` adds the softmax weights as a second output."""
    tensors = {k for k, v in lay.call.items() if isinstance(v, (dict, list)) and "__keras_tensor__" in str(v)}
    if tensors:
        raise _unsupported(b, lay, f"tensors passed by keyword ({', '.join(sorted(tensors))}: masks) are not "
                                   "supported")
    if len(ins) not in (2, 3):
        raise _unsupported(b, lay, f"{len(ins)} inputs; [query, value] or [query, value, key] are supported")
    q, v = b.plain(ins[0], lay.name), b.plain(ins[1], lay.name)
    k = b.plain(ins[2], lay.name) if len(ins) > 2 else v
    if q.rank != 3 or v.rank != 3 or k.rank != 3:
        raise _unsupported(b, lay, "inputs of shape [batch, steps, dim] are supported")
    base = lay.name
    additive = lay.class_name == "AdditiveAttention"
    mode = "concat" if additive else str(lay.get("score_mode", "dot"))
    scale = lay.weights.get("scale") if lay.get("use_scale", additive) else None
    if lay.get("use_scale", additive) and scale is None:
        raise _unsupported(b, lay, "use_scale is set but the file has no 'scale' weight")
    if mode == "dot":
        scores = b.one("MatMul", [q.name, b.one("Transpose", [k.name], base, perm=[0, 2, 1])], base)
        if scale is not None:
            scores = b.one("Mul", [scores, b.const(np.asarray(scale, np.float32), f"{base}/scale")], base)
    elif mode == "concat":  # [B, Tq, 1, d] + [B, 1, Tv, d]
        s = b.one("Add", [b.one("Unsqueeze", [q.name, b.const([2], f"{base}/q_axis", np.int64)], base),
                          b.one("Unsqueeze", [k.name, b.const([1], f"{base}/k_axis", np.int64)], base)], base)
        if scale is not None and not additive:  # Attention: w * sum(tanh(scale * (q + k)))
            s = b.one("Mul", [s, b.const(np.asarray(scale, np.float32), f"{base}/scale")], base)
        s = b.one("Tanh", [s], base)
        if scale is not None and additive:  # AdditiveAttention: sum(scale * tanh(q + k)), a scale per feature
            s = b.one("Mul", [s, b.const(np.asarray(scale, np.float32).reshape(-1), f"{base}/scale")], base)
        scores = b.one("ReduceSum", [s, b.const([-1], f"{base}/axes", np.int64)], base, keepdims=0)
        if not additive:
            w = lay.weight("concat_score_weight", b.source)
            scores = b.one("Mul", [scores, b.const(np.asarray(w, np.float32), f"{base}/concat_weight")], base)
    else:
        raise _unsupported(b, lay, f"score_mode {mode!r} (dot and concat are supported)")
    tq, tv = q.shape[1], v.shape[1]
    if lay.call.get("use_causal_mask") or lay.get("causal", False):
        if tq is None or tv is None:
            raise _unsupported(b, lay, "use_causal_mask needs the sequence lengths known")
        bias = np.where(np.tril(np.ones((tq, tv), bool)), 0.0, -1e9).astype(np.float32)  # query i sees keys <= i
        scores = b.one("Add", [scores, b.const(bias, f"{base}/causal")], base)
    weights = b.one("Softmax", [scores], base, axis=-1)
    out = KTensor(b.one("MatMul", [weights, v.name], base), (q.shape[0], tq, v.shape[2]))
    if lay.call.get("return_attention_scores"):
        return [out, KTensor(weights, (q.shape[0], tq, tv))]
    return [out]
