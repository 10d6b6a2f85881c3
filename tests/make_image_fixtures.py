"""Write runtime/test/fixtures/image/image.json: what Pillow and numpy give for the runtime's image module.

Small random RGBA images; Pillow's Image.resize (BICUBIC, BILINEAR, NEAREST; RGB and the alpha channel resized
as separate images, since Pillow premultiplies RGBA), the ImageNet preprocessing of webdnn.zoo.pretrained
(imagenet_preprocess), HED's BGR/Caffe-mean preprocessing, the inverse mapping tensor -> 8-bit pixels, softmax and
top-k. Read by runtime/test/image.test.mjs; tests/test_image_fixtures.py checks the committed file is current.

    python tests/make_image_fixtures.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from webdnn.zoo.pretrained import HED_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD, imagenet_preprocess, softmax

OUT = Path(__file__).resolve().parents[1] / "runtime" / "test" / "fixtures" / "image" / "image.json"
FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
           "nearest": Image.Resampling.NEAREST}


def _f32(a: np.ndarray) -> list[float]:
    """float32 values as the doubles they are exactly (JSON round-trips them bit for bit)."""
    return [float(v) for v in np.asarray(a, np.float32).reshape(-1)]


def _resize_rgba(rgba: np.ndarray, w: int, h: int, interp: str) -> np.ndarray:
    f = FILTERS[interp]
    rgb = np.asarray(Image.fromarray(np.ascontiguousarray(rgba[:, :, :3])).resize((w, h), f))
    a = np.asarray(Image.fromarray(np.ascontiguousarray(rgba[:, :, 3])).resize((w, h), f))
    return np.concatenate([rgb, a[:, :, None]], axis=2)


def build() -> dict[str, Any]:
    rng = np.random.default_rng(16)
    images = [rng.integers(0, 256, (17, 23, 4), dtype=np.uint8), rng.integers(0, 256, (30, 9, 4), dtype=np.uint8)]
    # a smooth image too (a photo's statistics: the filters' negative lobes rarely clip)
    yy, xx = np.mgrid[0:21, 0:26]
    smooth = np.stack([xx * 9, yy * 11, (xx + yy) * 5, np.full_like(xx, 255)], axis=2).astype(np.uint8)
    images.append(smooth)
    out: dict[str, Any] = {
        "images": [{"width": im.shape[1], "height": im.shape[0], "data": im.reshape(-1).tolist()} for im in images],
        "resize": [], "toTensor": [], "fromTensor": [], "softmax": [],
    }
    for i, (w, h) in [(0, (11, 8)), (0, (30, 25)), (0, (23, 9)), (0, (7, 17)), (1, (5, 12)), (1, (14, 41)),
                      (2, (13, 10)), (2, (50, 3))]:
        for interp in FILTERS:
            out["resize"].append({"image": i, "width": w, "height": h, "interpolation": interp,
                                  "expected": _resize_rgba(images[i], w, h, interp).reshape(-1).tolist()})

    # ImageNet: shorter side to `resize` (Python round for the other side), centre crop (Python round), mean/std
    for i, resize, size in [(0, 12, 11), (0, 20, 16), (1, 14, 9), (2, 16, 16), (2, 30, 24)]:
        x = imagenet_preprocess(images[i][:, :, :3], size=size, resize=resize)
        out["toTensor"].append({"image": i, "options": {"resize": resize, "crop": size, "mean": list(IMAGENET_MEAN),
                                                        "std": list(IMAGENET_STD)},
                                "dims": list(x.shape), "expected": _f32(x)})
    # HED: BGR minus the Caffe mean, 0..255 (scale 1), NHWC and NCHW, no resize
    for layout in ("NCHW", "NHWC"):
        bgr = np.asarray(images[1][:, :, 2::-1], np.float32) - np.asarray(HED_MEAN_BGR, np.float32)
        x = bgr.transpose(2, 0, 1)[None] if layout == "NCHW" else bgr[None]
        out["toTensor"].append({"image": 1, "options": {"scale": 1, "mean": list(HED_MEAN_BGR), "channels": "BGR",
                                                        "layout": layout},
                                "dims": list(x.shape), "expected": _f32(x)})
    # bilinear, exact size, no normalization (0..1)
    im = Image.fromarray(np.ascontiguousarray(images[2][:, :, :3])).resize((9, 7), Image.Resampling.BILINEAR)
    x = (np.asarray(im, np.float32) / np.float32(255)).transpose(2, 0, 1)[None]
    out["toTensor"].append({"image": 2, "options": {"resize": {"width": 9, "height": 7}, "interpolation": "bilinear"},
                            "dims": list(x.shape), "expected": _f32(x)})

    # tensor -> pixels: (x * std + mean) / scale, rounded half to even, clipped; NaN -> 0
    for layout, channels, mean, std, scale, c in [
        ("NCHW", "RGB", [0.0] * 3, [1.0] * 3, 1 / 255, 3),
        ("NHWC", "BGR", list(HED_MEAN_BGR), [1.0] * 3, 1.0, 3),
        ("NCHW", "RGB", list(IMAGENET_MEAN), list(IMAGENET_STD), 1 / 255, 3),
        ("NCHW", "RGB", [0.0] * 3, [1.0] * 3, 1 / 255, 1),
    ]:
        h, w = 5, 4
        spread = 300.0 if scale == 1.0 else 1.3
        x = rng.uniform(-0.2 * spread, spread, (1, c, h, w) if layout == "NCHW" else (1, h, w, c)).astype(np.float32)
        x.reshape(-1)[3] = np.nan
        chw = x[0] if layout == "NCHW" else x[0].transpose(2, 0, 1)
        m = np.asarray(mean, np.float32).astype(np.float64)[:, None, None]
        s = np.asarray(std, np.float32).astype(np.float64)[:, None, None]
        if c == 1:
            chw = np.repeat(chw, 3, axis=0)
            m, s = m[:1], s[:1]
        if channels == "BGR":
            chw, m, s = chw[::-1], m[::-1], s[::-1]
        v = (chw.astype(np.float64) * s + m) / scale
        px = np.clip(np.round(np.nan_to_num(v, nan=0.0)), 0, 255).astype(np.uint8)
        rgba = np.concatenate([px.transpose(1, 2, 0), np.full((h, w, 1), 255, np.uint8)], axis=2)
        out["fromTensor"].append({"dims": list(x.shape), "data": [None if np.isnan(t) else t for t in _f32(x)],
                                  "options": {"layout": layout, "channels": channels, "mean": mean, "std": std,
                                              "scale": scale},
                                  "width": w, "height": h, "expected": rgba.reshape(-1).tolist()})

    for logits in [rng.normal(0, 3, 1000).astype(np.float32), np.array([1, 3, 3, -2, 3, 0.5, 7, 7], np.float32)]:
        p = softmax(logits)
        out["softmax"].append({"logits": _f32(logits), "expected": p.tolist(),
                               "top5": [int(i) for i in np.argsort(-p, kind="stable")[:5]]})
    return out


def main() -> int:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), separators=(",", ":")) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
