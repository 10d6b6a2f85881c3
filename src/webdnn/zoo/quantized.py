"""Zoo models quantized by onnxruntime's own quantizer, as an app developer would (its documented flow):
`quant_pre_process` (shape inference and BatchNorm folding), then

- `qdq`: `quantize_static` in the QDQ format, per-channel int8 weights, uint8 activations, calibrated
  on seeded random inputs;
- `qop`: the same in the QOperator format (QLinearConv and com.microsoft ops);
- `dynamic`: `quantize_dynamic` (int8 weights; DynamicQuantizeLinear + MatMulInteger at run time), what
  transformers.js ships for its text models.

    path = quantized.write("resnet50", "qdq", "work/resnet50-qdq.onnx")
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from . import build, default_inputs, save

FORMATS = ("qdq", "qop", "dynamic")
CALIBRATION_BATCHES = 4


def write(name: str, fmt: str, path: str | Path, seed: int = 0) -> Path:
    """The zoo model `name` (seeded) quantized in `fmt`, written to `path` (returned)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if fmt not in FORMATS:
        raise ValueError(f"quantization format {fmt!r}: one of {', '.join(FORMATS)}")
    path = Path(path)
    model = build(name, seed=seed, opset=17)
    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre = os.path.join(tmp, "fp32.onnx"), os.path.join(tmp, "pre.onnx")
        save(model, fp32)
        # onnxruntime's symbolic shape inference fails on MiniLM's dynamic axes; ONNX's does the job here
        quant_pre_process(fp32, pre, skip_symbolic_shape=True)
        if fmt == "dynamic":
            quantize_dynamic(pre, str(path), weight_type=QuantType.QInt8)
            return path
        feeds = [default_inputs(name, model, seed=seed + 1 + i) for i in range(CALIBRATION_BATCHES)]

        class Calibration(CalibrationDataReader):
            def __init__(self) -> None:
                self.batches = iter(feeds)

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self.batches, None)

        quantize_static(pre, str(path), Calibration(), quant_format=QuantFormat.QDQ if fmt == "qdq" else
                        QuantFormat.QOperator, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True)
    return path
