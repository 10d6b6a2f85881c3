"""Winograd F(4x4, 3x3) convolution of the wasm backend (kernel conv2d_winograd_nhwc_f32).

- the transform matrices and the filter packing, against a float64 direct convolution (numpy);
- many Conv cases converted for `wasm` and run in Node against onnxruntime, at the backend's
  stated Winograd tolerance (winograd.WINOGRAD_TOLERANCE): partial output tiles (odd H/W),
  channel tails (odd C, M), pads 0/1/2/asymmetric, batch 2, several tile blocks, residual
  adds and fused activations; the routing (which convs take the Winograd kernel);
- the kernel called directly with nthreads = 1..8 (every tid run one after another on the
  same parameters) in both builds (SIMD128, relaxed SIMD): identical results whatever the
  split, and a single C = 512 layer within 1e-4 * max(1, |ref|).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import numpy as np
import pytest

from tests.backends.wasm.test_wasm_kernels import Cases
from webdnn.backends.wasm import winograd
from webdnn.backends.wasm.lower import ACT_CLAMP, pad_bias
from webdnn.browser.paths import runtime_dist

pytestmark = pytest.mark.node

KERNEL = "conv2d_winograd_nhwc_f32"
RNG = np.random.default_rng(11)


def conv_ref(x: np.ndarray, w: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """3x3 stride-1 convolution (cross-correlation, as ONNX Conv) in float64, NCHW."""
    n, c, h, wd = x.shape
    pt, pl, pb, pr = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = h + pt + pb - 2, wd + pl + pr - 2
    y = np.zeros((n, w.shape[0], oh, ow))
    for ky in range(3):
        for kx in range(3):
            y += np.einsum("nchw,mc->nmhw", xp[:, :, ky:ky + oh, kx:kx + ow], w[:, :, ky, kx].astype(np.float64))
    return y


def winograd_numpy(x: np.ndarray, w: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """The kernel's algorithm in float64 numpy (tiles of 4x4 from 6x6, U from winograd.pack_filters)."""
    n, c, h, wd = x.shape
    m = w.shape[0]
    pt, pl, pb, pr = pads
    oh, ow = h + pt + pb - 2, wd + pl + pr - 2
    th, tw = -(-oh // 4), -(-ow // 4)
    xp = np.zeros((n, c, th * 4 + 2, tw * 4 + 2))
    rows, cols = min(h, th * 4 + 2 - pt), min(wd, tw * 4 + 2 - pl)
    xp[:, :, pt:pt + rows, pl:pl + cols] = x[:, :, :rows, :cols]
    panels = -(-m // 8)
    packed = winograd.pack_filters(w).astype(np.float64).reshape(36, panels, c, 8)
    u = packed.transpose(0, 2, 1, 3).reshape(6, 6, c, panels * 8)[..., :m]
    bt, at = winograd.matrix(winograd.BT), winograd.matrix(winograd.AT)
    y = np.zeros((n, m, th * 4, tw * 4))
    for ty in range(th):
        for tx in range(tw):
            d = xp[:, :, ty * 4:ty * 4 + 6, tx * 4:tx * 4 + 6]
            v = np.einsum("ik,nckl,jl->nijc", bt, d, bt)
            mm = np.einsum("nijc,ijcm->nijm", v, u)
            y[:, :, ty * 4:ty * 4 + 4, tx * 4:tx * 4 + 4] = np.einsum("ik,nklm,jl->nmij", at, mm, at)
    return y[:, :, :oh, :ow]


def test_matrices_and_packing() -> None:
    assert winograd.identity_holds()
    for shape, m, pads in [((2, 5, 9, 11), 7, (1, 1, 1, 1)), ((1, 3, 10, 7), 12, (0, 1, 2, 0)),
                           ((1, 9, 5, 6), 17, (2, 2, 0, 1))]:
        x = RNG.standard_normal(shape)
        w = RNG.standard_normal((m, shape[1], 3, 3)).astype(np.float32)
        want = conv_ref(x, w, pads)
        got = winograd_numpy(x, w, pads)
        # only the float32 rounding of U separates the two
        assert np.max(np.abs(got - want)) < 1e-5 * np.max(np.abs(want)), (shape, m, pads)


def test_routing_rules() -> None:
    assert winograd.applies(1, (3, 3), (1, 1), (1, 1), 1, 64, 64, 56, 56)
    assert winograd.applies(1, (3, 3), (1, 1), (1, 1), 1, 512, 512, 7, 7)  # 49 of 64 tile outputs used
    assert winograd.applies(1, (3, 3), (1, 1), (1, 1), 1, 8, 8, 56, 56)
    assert not winograd.applies(1, (3, 3), (2, 2), (1, 1), 1, 64, 64, 28, 28)  # strided
    assert not winograd.applies(1, (3, 3), (1, 1), (2, 2), 1, 64, 64, 28, 28)  # dilated
    assert not winograd.applies(2, (3, 3), (1, 1), (1, 1), 1, 64, 64, 28, 28)  # grouped
    assert not winograd.applies(1, (3, 1), (1, 1), (1, 1), 1, 64, 64, 28, 28)
    assert not winograd.applies(1, (3, 3), (1, 1), (1, 1), 1, 3, 64, 224, 224)  # too few input channels
    assert not winograd.applies(1, (3, 3), (1, 1), (1, 1), 1, 64, 4, 56, 56)  # too few output channels
    assert not winograd.applies(1, (3, 3), (1, 1), (1, 1), 1, 256, 256, 4, 8)  # too few outputs (2 whole tiles)
    assert winograd.applies(1, (3, 3), (1, 1), (1, 1), 2, 256, 256, 4, 8)  # ... unless batched
    assert not winograd.applies(1, (3, 3), (1, 1), (1, 1), 4, 64, 64, 2, 2)  # 4 of 16 tile outputs used
    for n, c, oh, ow in [(1, 64, 224, 224), (1, 512, 14, 14), (2, 33, 9, 11), (1, 4096, 3, 3)]:
        tb = winograd.tile_block(n, c, oh, ow)
        assert tb % 4 == 0 and 4 <= tb <= winograd.MAX_TILE_BLOCK
        assert tb < n * -(-oh // 4) * -(-ow // 4) + 4  # no block much larger than the tiles there are


class WinogradCases(Cases):
    def run_winograd(self, tmp: str, winograd_convs: set[str]) -> None:
        """Run in Node; check every output at the Winograd tolerance and which convs took the kernel."""
        desc = self.run(tmp, expect_js=None, tol=winograd.WINOGRAD_TOLERANCE)
        routed = {k["name"] for k in desc["kernels"] if k["attrs"].get("wasm", {}).get("fn") == KERNEL}
        assert routed == winograd_convs, routed
        # the transformed filters are not downloaded: the 3x3 filters are, and the runtime transforms them
        stored = {e[0]: e for e in desc["weights"]["encoding"]["tensors"]}
        for k in desc["kernels"]:
            if k["attrs"].get("wasm", {}).get("fn") == KERNEL:
                t = k["inputs"][1]
                assert stored[t][4]["transform"] == winograd.TRANSFORM and stored[t][1] == "raw"
                m, c = stored[t][4]["params"]
                assert stored[t][3] == 9 * m * c * 4 < desc["tensors"][t]["byteLength"]
        assert desc["wasm"]["stackBytes"] >= max(
            winograd.stack_bytes(p[8], p[-1]) for k in desc["kernels"]
            if k["attrs"].get("wasm", {}).get("fn") == KERNEL for p in [k["attrs"]["wasm"]["params"]])


def test_winograd_conv(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = WinogradCases()
    routed: set[str] = set()
    # (input NCHW, out channels, pads, routed to Winograd)
    specs: list[tuple[tuple[int, int, int, int], int, list[int], bool]] = [
        ((1, 8, 8, 8), 8, [1, 1, 1, 1], True),  # whole tiles, the smallest channel counts routed
        ((1, 9, 7, 9), 11, [1, 1, 1, 1], True),  # C tail 1 on a vector of 8 + 1, M tail 3
        ((2, 33, 9, 11), 37, [1, 1, 1, 1], True),  # batch 2, partial tiles, C tail 1, M tail 5
        ((1, 45, 13, 7), 67, [0, 0, 0, 0], True),  # no pads, M > 64: two output-channel passes
        ((1, 40, 10, 9), 48, [0, 1, 2, 0], True),  # asymmetric pads
        ((1, 36, 6, 7), 41, [2, 1, 0, 2], True),  # pads of 2 (output larger than the input)
        ((1, 512, 7, 7), 40, [1, 1, 1, 1], True),  # C = 512, 7x7: 49 of 64 tile outputs
        ((1, 96, 37, 35), 72, [1, 1, 1, 1], True),  # 90 tiles: two blocks, the last one with a row tail
        ((1, 3, 12, 12), 40, [1, 1, 1, 1], False),  # too few input channels: im2col
        ((1, 48, 7, 7), 48, [0, 0, 0, 0], False),  # 5x5 output: too few outputs
    ]
    for shape, m, pads, wino in specs:
        y = t.conv(t.input(shape), shape[1], m, (3, 3), pads=pads)
        t.output(y)
        if wino:
            routed.add(f"Conv_{t.n}")
    # no bias
    y = t.conv(t.input((1, 34, 9, 9)), 34, 35, (3, 3), bias=False, pads=[1, 1, 1, 1])
    t.output(y)
    routed.add(f"Conv_{t.n}")
    # fused activations
    acts: list[tuple[str, dict[str, Any]]] = [("Relu", {}), ("LeakyRelu", {"alpha": 0.1}), ("Sigmoid", {}),
                                               ("HardSwish", {}), ("Tanh", {})]
    for op, attrs in acts:
        y = t.conv(t.input((1, 33, 7, 10)), 33, 36, (3, 3), pads=[1, 1, 1, 1])
        routed.add(f"Conv_{t.n}")
        t.output(t.node(op, [y], **attrs))
    x = t.input((1, 32, 9, 9))
    y = t.conv(x, 32, 33, (3, 3), pads=[1, 1, 1, 1])
    routed.add(f"Conv_{t.n}")
    t.output(t.node("Clip", [y, t.const(np.array(0.0)), t.const(np.array(6.0))]))
    # residual from another conv's output (NHWC) + Relu, as in ResNet
    x = t.input((2, 40, 11, 13))
    a = t.conv(x, 40, 44, (1, 1))
    b = t.conv(x, 40, 44, (3, 3), pads=[1, 1, 1, 1])
    routed.add(f"Conv_{t.n}")
    t.output(t.node("Relu", [t.node("Add", [b, a])]))
    # residual from a graph input (NCHW, converted), no activation
    x = t.input((1, 35, 9, 6))
    r = t.input((1, 39, 9, 6))
    y = t.conv(x, 35, 39, (3, 3), pads=[1, 1, 1, 1])
    routed.add(f"Conv_{t.n}")
    t.output(t.node("Add", [r, y]))
    # two stacked Winograd convs (the second reads the first's NHWC output)
    x = t.input((1, 32, 12, 12))
    y = t.conv(x, 32, 48, (3, 3), pads=[1, 1, 1, 1])
    routed.add(f"Conv_{t.n}")
    y = t.node("Relu", [y])
    t.output(t.conv(y, 48, 32, (3, 3), pads=[1, 1, 1, 1]))
    routed.add(f"Conv_{t.n}")
    t.run_winograd(str(tmp_path), routed)


# ---- the kernel called directly ---------------------------------------------------------
BASE = 128 * 1024  # the module's own stack and data lie below


class _Image:
    def __init__(self, base: int) -> None:
        self.base, self.buf = base, bytearray()

    def put(self, a: np.ndarray) -> int:
        self.buf += b"\0" * (-len(self.buf) % 64)
        at = self.base + len(self.buf)
        self.buf += np.ascontiguousarray(a).tobytes()
        return at


def _layer(n: int, c: int, h: int, w: int, m: int, pads: tuple[int, int, int, int]) -> dict[str, Any]:
    x = RNG.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (RNG.standard_normal((m, c, 3, 3)) * np.sqrt(2 / (9 * c))).astype(np.float32)  # He initialization
    b = (RNG.standard_normal(m) * 0.1).astype(np.float32)
    pt, pl, pb, pr = pads
    oh, ow = h + pt + pb - 2, w + pl + pr - 2
    r = RNG.standard_normal((n, m, oh, ow)).astype(np.float32)
    ref = np.maximum(conv_ref(x, wt, pads) + b[None, :, None, None] + r, 0.0)  # + residual, Relu
    return {"x": x, "w": wt, "b": b, "r": r, "ref": ref, "geo": (n, h, w, c, oh, ow, m, pt, pl)}


def _run_direct(module: str, layers: list[dict[str, Any]], thread_counts: list[int],
                tmp: str) -> list[list[np.ndarray]]:
    """Each layer with Y = Relu(conv + bias + R), once per thread count; the outputs in NCHW."""
    stack = max(winograd.stack_bytes(lay["geo"][3], winograd.tile_block(lay["geo"][0], lay["geo"][3], *lay["geo"][4:6]))
                for lay in layers) + 65536
    img = _Image(BASE + stack)
    calls, dumps, shapes = [], [], []
    for lay in layers:
        n, h, w, c, oh, ow, m, pt, pl = lay["geo"]
        xa = img.put(lay["x"].transpose(0, 2, 3, 1))
        ua = img.put(winograd.pack_filters(lay["w"]))
        ba = img.put(pad_bias(lay["b"], m))
        ra = img.put(lay["r"].transpose(0, 2, 3, 1))
        tb = winograd.tile_block(n, c, oh, ow)
        for nt in thread_counts:
            ya = img.put(np.full((n, oh, ow, m), np.nan, np.float32))  # every element must be written
            relu = [ACT_CLAMP, 0, int(np.float32(np.inf).view(np.int32))]  # clamp to [0, inf): kernels/wasm/common.h
            params = np.array([xa, ua, ba, ya, ra, n, h, w, c, oh, ow, m, pt, pl, *relu, tb], np.int32)
            calls.append({"fn": KERNEL, "params": img.put(params), "nthreads": nt})
            dumps.append({"addr": ya, "nbytes": n * oh * ow * m * 4})
            shapes.append((n, oh, ow, m))
    image, out = os.path.join(tmp, "image.bin"), os.path.join(tmp, "out.bin")
    with open(image, "wb") as f:
        f.write(img.buf)
    job = {"memBytes": img.base + len(img.buf), "stackTop": BASE + stack, "image": image, "imageBase": img.base,
           "out": out, "calls": calls, "dumps": dumps}
    with open(os.path.join(tmp, "job.json"), "w") as f:
        json.dump(job, f)
    flags = ["--experimental-wasm-relaxed-simd"] if "relaxed" in module else []
    driver = os.path.join(os.path.dirname(__file__), "call_kernel.mjs")
    p = subprocess.run(["node", *flags, driver, module, os.path.join(tmp, "job.json")], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    data = np.fromfile(out, np.float32)
    results, at = [], 0
    for s in shapes:
        size = int(np.prod(s))
        results.append(data[at:at + size].reshape(s).transpose(0, 3, 1, 2))
        at += size
    k = len(thread_counts)
    return [results[i:i + k] for i in range(0, len(results), k)]


@pytest.mark.parametrize("build", ["simd128", "relaxed"])
def test_kernel_thread_split_and_accuracy(build: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    module = os.path.join(runtime_dist(), f"webdnn-kernels-{build}.wasm")
    layers = [
        _layer(1, 64, 14, 14, 64, (1, 1, 1, 1)),  # 16 tiles, one block: threads split the output channels
        _layer(2, 37, 23, 21, 45, (1, 0, 2, 1)),  # many blocks, partial tiles, channel tails
        _layer(1, 512, 12, 12, 72, (1, 1, 1, 1)),  # C = 512: the per-layer accuracy case
    ]
    counts = [1, 2, 3, 5, 8]
    for lay, outs in zip(layers, _run_direct(module, layers, counts, str(tmp_path)), strict=True):
        ref = lay["ref"]
        err = np.max(np.abs(outs[0] - ref) / np.maximum(1.0, np.abs(ref)))
        assert err <= 1e-4, (lay["geo"], err)  # one layer: within the default fp32 tolerance
        for nt, o in zip(counts[1:], outs[1:], strict=True):
            assert np.array_equal(o, outs[0]), (lay["geo"], nt)  # the same arithmetic whatever the split
