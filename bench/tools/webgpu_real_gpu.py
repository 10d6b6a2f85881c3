"""WebDNN webgpu next to ONNX Runtime Web webgpu on a real GPU, in Node (no browser); writes results.json.

Run from the repository root on a machine with a GPU, its Vulkan driver, Node, the npm `webgpu` package
(runtime/node_modules) and ONNX Runtime Web (bench/node_modules), with OUT set to a results folder:
    OUT=/tmp/out python3 bench/tools/webgpu_real_gpu.py
Per zoo model: both runtimes on the same seeded inputs (bench-webgpu-node.mjs --dump, then
ort-webgpu-node.mjs --inputs), both checked against native onnxruntime CPU; then PyTorch CUDA fp32
(TF32 off) on torchvision's architectures as a native reference. bench/results/h200-webgpu-node.json
holds one run; docs/benchmarks.md renders it."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from typing import Any

import numpy as np
import onnxruntime as ort

OUT = os.environ["OUT"]
# MiniLM is left out: its zoo model has a dynamic sequence length, converted here at 1.
MODELS = os.environ.get("MODELS", "mobilenet_v2 squeezenet1_1 resnet50 inception_v3 vgg16").split()
WARMUP, REPEAT = os.environ.get("WARMUP", "10"), os.environ.get("REPEAT", "50")


def node_json(cmd: list[str]) -> dict[str, Any]:
    p = subprocess.run(cmd, capture_output=True, text=True)
    return json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {"error": p.stderr[-800:]}


def max_rel_err(folder: str, names: list[str], ref: list[np.ndarray]) -> float | None:
    errs = []
    for name, r in zip(names, ref, strict=True):
        f = f"{folder}/output-{name}.bin"
        if os.path.exists(f):
            got, want = np.fromfile(f, np.float32), r.ravel()
            errs.append(float(np.max(np.abs(got - want) / np.maximum(1, np.abs(want)))))
    return max(errs) if errs else None


def median_ms(fn: Any, warmup: int, repeat: int, sync: Any = lambda: None) -> float:
    for _ in range(warmup):
        fn()
    sync()
    t = []
    for _ in range(repeat):
        a = time.perf_counter()
        fn()
        sync()
        t.append((time.perf_counter() - a) * 1e3)
    return statistics.median(t)


def main() -> None:
    res: dict[str, dict[str, Any]] = {}
    for m in MODELS:
        onx, d, dump = f"/tmp/m/{m}.onnx", f"/tmp/m/{m}", f"/tmp/m/{m}-dump"
        subprocess.run(["python3", "-m", "webdnn.cli", "zoo", m, "-o", onx], check=True, capture_output=True)
        subprocess.run(["python3", "-m", "webdnn.cli", "convert", onx, "-o", d, "--backends", "webgpu"],
                       check=True, capture_output=True)
        keys = ("loadMs", "firstRunMs", "medianMs", "error", "adapter")
        w = node_json(["node", "runtime/tools/bench-webgpu-node.mjs", d, "--warmup", WARMUP, "--repeat", REPEAT,
                       "--dump", dump])
        with open(f"{d}/manifest.json") as f:
            shapes = {i["name"]: i["shape"] for i in json.load(f)["inputs"]}
        feeds = {}
        for n, s in shapes.items():
            with open(f"{dump}/input-{n}.bin", "rb") as f:
                raw = f.read()
            feeds[n] = np.frombuffer(raw, np.int64 if len(raw) == 8 * int(np.prod(s)) else np.float32).reshape(s)
        sh = ";".join(f"{n}={','.join(map(str, s))}" for n, s in shapes.items())
        o = node_json(["node", "bench/tools/ort-webgpu-node.mjs", onx, "--inputs", dump, "--shapes", sh,
                       "--warmup", WARMUP, "--repeat", REPEAT, "--dump", dump + "-ort"])
        sess = ort.InferenceSession(onx, providers=["CPUExecutionProvider"])
        ref = sess.run(None, feeds)
        names = [x.name for x in sess.get_outputs()]
        r: dict[str, Any] = {"webdnn": {k: w.get(k) for k in keys}, "ort-web": {k: o.get(k) for k in keys[:4]}}
        r["webdnn"]["max_rel_err"] = max_rel_err(dump, names, ref)
        r["ort-web"]["max_rel_err"] = max_rel_err(dump + "-ort", names, ref)
        r["ort-cpu-ms"] = median_ms(lambda s=sess, f=feeds: s.run(None, f), 5, 30)
        res[m] = r
        print(m, json.dumps(r), flush=True)
        with open(f"{OUT}/results.json", "w") as f:
            json.dump(res, f, indent=1)
    import torch
    import torchvision

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    for m, size in [("mobilenet_v2", 224), ("squeezenet1_1", 224), ("resnet50", 224), ("inception_v3", 299),
                    ("vgg16", 224)]:
        kw = {"aux_logits": False, "init_weights": False} if m == "inception_v3" else {}
        net = getattr(torchvision.models, m)(weights=None, **kw).eval().cuda()
        x = torch.randn(1, 3, size, size, device="cuda")
        with torch.inference_mode():
            res.setdefault(m, {})["torch-cuda-fp32-ms"] = median_ms(lambda n=net, x=x: n(x), 20, 50,
                                                                            torch.cuda.synchronize)
    print(json.dumps(res, indent=1))
    with open(f"{OUT}/results.json", "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
