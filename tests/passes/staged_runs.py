"""Shared by the tests of models the runtime runs in stages (runtime_control.py: sizes found in the data,
Loops decided at run time): run a converted model on one backend, in Node or in Chromium, and check every
output's shape and values against onnxruntime on the same inputs."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.zoo_cases import assert_matches
from webdnn.backends.webgpu.node import swiftshader_env
from webdnn.browser.node import run_model_node
from webdnn.browser.paths import REPO_ROOT
from webdnn.verify import reference_outputs

ENV = swiftshader_env()
NODE_WEBGPU = ENV is not None and os.path.isdir(os.path.join(REPO_ROOT, "runtime", "node_modules", "webgpu"))


def skip_without_node_webgpu(backend: str) -> None:
    if backend == "webgpu" and not NODE_WEBGPU:
        pytest.skip("needs Chromium's SwiftShader ICD and runtime/node_modules/webgpu")


def check_like_onnxruntime(model: Path, out: Path, feeds: Mapping[str, np.ndarray], backend: str,
                           label: Callable[[dict[str, np.ndarray]], str], browser: Any = None) -> None:
    """`out` (converted from `model`) on `backend`, in Chromium when `browser` (a Browser, or a SharedPage of
    tests/shared_page.py) is given, else in Node: the same output shapes as onnxruntime's and values within the
    fp32 tolerance; `label(reference)` names the case."""
    ref = reference_outputs(str(model), dict(feeds))
    if browser is None:
        r = run_model_node(str(out), dict(feeds), [backend], env=ENV if backend == "webgpu" else None)
    else:
        r = browser.run_model(str(out), dict(feeds), [backend])
        assert r.backend == backend
    assert {k: v.shape for k, v in r.outputs.items()} == {k: v.shape for k, v in ref.items()}
    assert_matches(ref, r.outputs, label(ref))
