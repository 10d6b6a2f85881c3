"""A Keras 3 `.keras` file of a benchmark CNN, saved by Keras itself (run in build/keras-venv):

    build/keras-venv/bin/python bench/tools/keras_from_tfjs.py DIR

reads DIR/model.json + DIR/weights.bin (TF.js's layers files, bench/tools/tfjs-save-layers.mjs), whose
topology is a Keras functional config, rebuilds the model with Keras, sets the same weights and saves
DIR/model.keras: the file a Keras user has, for the benchmark's "webdnn via Keras" rows.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def main(d: str) -> None:
    with open(os.path.join(d, "model.json")) as f:
        mj = json.load(f)
    parts = []
    for g in mj["weightsManifest"]:
        for p in g["paths"]:
            with open(os.path.join(d, p), "rb") as f:
                parts.append(f.read())
    data = b"".join(parts)
    weights: dict[str, np.ndarray] = {}
    offset = 0
    for g in mj["weightsManifest"]:
        for w in g["weights"]:
            if w["dtype"] != "float32":
                raise SystemExit(f"{d}: weight {w['name']} is {w['dtype']}, only float32 is expected here")
            n = int(np.prod(w["shape"]))
            weights[w["name"]] = np.frombuffer(data, "<f4", n, offset).reshape(w["shape"])
            offset += 4 * n
    model = keras.Model.from_config(mj["modelTopology"]["config"])  # a Keras 2 style functional config
    used = 0
    for layer in model.layers:
        mine = [v for k, v in weights.items() if k.startswith(layer.name + "/")]
        if mine:
            layer.set_weights(mine)  # TF.js saves them in the layer's own order (kernel, bias)
            used += len(mine)
    if used != len(weights):
        raise SystemExit(f"{d}: {len(weights) - used} of {len(weights)} weights matched no layer")
    model.save(os.path.join(d, "model.keras"))


if __name__ == "__main__":
    main(sys.argv[1])
