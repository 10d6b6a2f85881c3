"""com.microsoft operators rewritten as standard ONNX (frontend/contrib_ops.py), against onnxruntime, which runs
them natively: MatMulNBits by hand (4 and 8 bits, zero points packed or float, a partial last block, a bias),
and the real all-MiniLM-L6-v2 quantized by onnxruntime's own tools (quantize_dynamic: DynamicQuantizeLinear +
MatMulInteger; MatMulNBitsQuantizer: 4-bit blocks), the kind of file transformers.js ships."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn.convert import convert
from webdnn.errors import UnsupportedOperatorError
from webdnn.frontend.contrib_ops import expand_contrib_ops
from webdnn.verify import compare, reference_outputs

RNG = np.random.default_rng(4)


def _nbits_model(bits: int, k: int, n: int, block: int, zp: str, bias: bool) -> onnx.ModelProto:
    blocks = -(-k // block)
    q = RNG.integers(0, 1 << bits, (n, blocks * block), dtype=np.uint8)
    if bits == 4:
        packed = (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8).reshape(n, blocks, block // 2)
    else:
        packed = q.reshape(n, blocks, block)
    inits = [numpy_helper.from_array(packed, "B"),
             numpy_helper.from_array((RNG.random(n * blocks) * 0.1 + 0.01).astype(np.float32), "scales")]
    ins = ["A", "B", "scales"]
    if zp == "packed":
        z = RNG.integers(0, 1 << bits, (n, blocks), dtype=np.uint8)
        if bits == 4:
            z = np.concatenate([z, np.zeros((n, blocks % 2), np.uint8)], axis=1)
            z = (z[:, 0::2] | (z[:, 1::2] << 4)).astype(np.uint8)
        inits.append(numpy_helper.from_array(z.reshape(-1), "zp"))
        ins.append("zp")
    elif zp == "float":
        inits.append(numpy_helper.from_array((RNG.random(n * blocks) * 8).astype(np.float32), "zp"))
        ins.append("zp")
    if bias:
        ins += [""] * (5 - len(ins)) + ["bias"]
        inits.append(numpy_helper.from_array(RNG.standard_normal(n).astype(np.float32), "bias"))
    node = helper.make_node("MatMulNBits", ins, ["Y"], domain="com.microsoft", K=k, N=n, bits=bits, block_size=block,
                            name="mm")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("A", TensorProto.FLOAT, [2, 3, k])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])


@pytest.mark.parametrize(("bits", "k", "block", "zp", "bias"), [
    (4, 64, 32, "none", False), (4, 70, 32, "packed", True), (4, 48, 16, "float", False), (8, 40, 16, "packed", True),
    (8, 33, 32, "none", False)])
def test_matmul_nbits_matches_onnxruntime(bits: int, k: int, block: int, zp: str, bias: bool) -> None:
    from onnx.reference import ReferenceEvaluator

    model = _nbits_model(bits, k, 5, block, zp, bias)
    a = RNG.standard_normal((2, 3, k)).astype(np.float32)
    want = reference_outputs(model, {"A": a})["Y"]
    rewritten = expand_contrib_ops(model)
    assert [n.op_type for n in rewritten.graph.node] == (["MatMul", "Add"] if bias else ["MatMul"])
    assert [n.op_type for n in model.graph.node] == ["MatMulNBits"]  # the caller's model is left alone
    got = ReferenceEvaluator(rewritten).run(None, {"A": a})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_matmul_nbits_needs_constant_weights(tmp_path: Path) -> None:
    model = _nbits_model(4, 32, 3, 32, "none", False)
    model.graph.input.append(helper.make_tensor_value_info("B", TensorProto.UINT8, [3, 1, 16]))
    inits = [t for t in model.graph.initializer if t.name != "B"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    with pytest.raises(UnsupportedOperatorError, match=r"'mm' \(com.microsoft.MatMulNBits\): its weights and "
                                                       "scales must be constants"):
        convert(model, tmp_path / "out", ["fallback"])


def _quantized_minilm(tmp_path: Path) -> tuple[dict[str, Path], dict[str, np.ndarray]]:
    pytest.importorskip("onnxruntime.quantization")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from webdnn.zoo.pretrained import PretrainedUnavailableError, build_minilm_pretrained

    try:
        model, tok = build_minilm_pretrained()
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError:  # older onnxruntime
        from onnxruntime.quantization.matmul_4bits_quantizer import MatMul4BitsQuantizer as MatMulNBitsQuantizer
    fp32 = tmp_path / "minilm.onnx"
    onnx.save(model, fp32)
    files = {"int8 (quantize_dynamic)": tmp_path / "minilm-q8.onnx", "int4 (MatMulNBits)": tmp_path / "minilm-q4.onnx"}
    quantize_dynamic(str(fp32), str(files["int8 (quantize_dynamic)"]), weight_type=QuantType.QInt8)
    q4 = MatMulNBitsQuantizer(onnx.load(fp32), block_size=32, is_symmetric=True)
    q4.process()
    q4.model.save_model_to_file(str(files["int4 (MatMulNBits)"]), False)
    feeds = tok.tokenize(["This is an example sentence", "Quantized models run in the browser"], pad_to=12)
    return files, feeds


@pytest.mark.slow
@pytest.mark.browser
def test_quantized_minilm_on_every_backend(tmp_path: Path, browser: Any) -> None:
    """The real all-MiniLM-L6-v2 quantized by onnxruntime's tools, on every backend in headless Chromium against
    onnxruntime running the same quantized file (the fp32 rule)."""
    files, feeds = _quantized_minilm(tmp_path)
    backends = ["fallback", "wasm", "webgl", "webgpu"]
    for kind, path in files.items():
        ref = reference_outputs(str(path), feeds)
        out = tmp_path / path.stem
        convert(str(path), out, backends, {n: list(v.shape) for n, v in feeds.items()})
        for backend in backends:
            r = browser.run_model(str(out), feeds, [backend])
            assert r.backend == backend
            # WebGL on the dynamically quantized file: GLSL's division is not correctly rounded, so an activation
            # x / scale within an ulp of a rounding boundary can quantize one step away from onnxruntime's (a few
            # of the ~200k quantized activations); one step of an activation's scale moves the outputs it feeds by
            # up to ~0.012 absolute (measured 0.0116; outputs up to 5.9), hence 0.02 * max(1, |ref|) there, the
            # fp32 rule (1e-4) everywhere else. WebGPU's division is exact enough: it meets 1e-4.
            tol = 0.02 if backend == "webgl" and kind.startswith("int8") else 1e-4
            for name, want in ref.items():
                c = compare(name, want, r.outputs[name], tol)
                assert c.ok, f"{kind} on {backend} {name}: max abs err {c.max_abs_err:.3g} {c.detail}"
