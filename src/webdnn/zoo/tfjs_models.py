"""Trained TensorFlow.js models from npm packages, as `make real-models` unpacks them into
build/real-models/ (npm pack, nothing else installed):

* `@upscalerjs/esrgan-slim` 1.0.0 (MIT): super-resolution x2/x3/x4/x8, layers models (Keras 2.10
  Functional: Conv2D, Concatenate, Add, UpSampling2D), files in models/xN/.
* `nsfwjs` 4.3.0 (MIT): MobileNetV2 and Inception-v3 layers models (Keras 2.2.4, uint8-quantized weights),
  5 classes. The package stores model.json and each shard as JavaScript modules (UMD, the JSON object
  or a base64 string as module.exports); `nsfwjs_model` writes them back out as model.json + .bin
  files with Node.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from webdnn.zoo.pretrained import PretrainedUnavailableError

ROOT = Path(__file__).resolve().parents[3] / "build" / "real-models"
ESRGAN_DIR = "upscalerjs-esrgan-slim-1.0.0"
NSFWJS_DIR = "nsfwjs-4.3.0"
NSFWJS_CLASSES = ("Drawing", "Hentai", "Neutral", "Porn", "Sexy")


def _package(name: str) -> Path:
    d = ROOT / name
    if not d.is_dir():
        raise PretrainedUnavailableError(f"{d} is missing: run `make real-models` (npm pack of the model packages)")
    return d


def esrgan_slim(scale: int = 2) -> Path:
    """model.json of esrgan-slim's x`scale` model: input 'LR' [1, h, w, 3] RGB 0..255, output [1, s·h, s·w, 3]."""
    path = _package(ESRGAN_DIR) / "models" / f"x{scale}" / "model.json"
    if not path.is_file():
        raise PretrainedUnavailableError(f"{path} is missing from the esrgan-slim package")
    return path


_DECODE = r"""
const [src, out] = process.argv.slice(1);
const fs = require("fs"), path = require("path");
const model = require(path.join(src, "model.min.js"));
fs.writeFileSync(path.join(out, "model.json"), JSON.stringify(model));
for (const g of model.weightsManifest) for (const p of g.paths) {
  const s = require(path.join(src, p + ".min.js"));
  fs.writeFileSync(path.join(out, p), Buffer.from(s, "base64"));
}
"""


def nsfwjs_model(name: str = "mobilenet_v2") -> Path:
    """model.json of an nsfwjs model ('mobilenet_v2', 'mobilenet_v2_mid', 'inception_v3'), decoded once into
    build/real-models/nsfwjs-<name>/: input [1, 224, 224, 3] (299 for inception_v3) RGB scaled to 0..1,
    output the 5 class probabilities (NSFWJS_CLASSES)."""
    src = _package(NSFWJS_DIR) / "dist" / "models" / name
    if not (src / "model.min.js").is_file():
        raise PretrainedUnavailableError(f"{src}/model.min.js is missing from the nsfwjs package")
    out = ROOT / f"nsfwjs-{name}"
    model = out / "model.json"
    if model.is_file():
        return model
    node = shutil.which("node")
    if node is None:
        raise PretrainedUnavailableError("Node.js is needed to unpack nsfwjs' model modules")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    subprocess.run([node, "-e", _DECODE, str(src), str(tmp)], check=True, capture_output=True, timeout=120)
    manifest = json.loads((tmp / "model.json").read_text())
    for g in manifest["weightsManifest"]:  # every shard decoded: the model is complete before it is used
        for p in g["paths"]:
            if not (tmp / p).is_file():
                raise PretrainedUnavailableError(f"nsfwjs {name}: shard {p} was not decoded")
    tmp.rename(out)
    return model
