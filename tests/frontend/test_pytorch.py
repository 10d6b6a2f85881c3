"""PyTorch models in (frontend/pytorch.py): an nn.Module with example inputs through the Python API and a
torch.export program (.pt2, recognized by content) through the CLI, against PyTorch's own outputs; the real
all-MiniLM-L6-v2 weights as an nn.Module on every backend; and the errors, with torch made unimportable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed (make test installs the CPU build)")
pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")

from torch import nn  # noqa: E402

from webdnn.convert import convert  # noqa: E402
from webdnn.errors import ConversionError  # noqa: E402
from webdnn.verify import compare  # noqa: E402

pytestmark = pytest.mark.node
ROOT = Path(__file__).resolve().parents[2]


class Net(nn.Module):
    """Conv + BatchNorm + ReLU, a residual, pooling, and a second input mixed in before the classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.fc = nn.Linear(8 + 4, 5)

    def forward(self, image: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(image)))
        x = x + torch.nn.functional.hardswish(self.conv2(x))
        x = torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(torch.cat([x, extra * 2], dim=1)).log_softmax(-1)


def _net() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():  # a trained-looking BatchNorm (not the identity of a fresh one)
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2.0)
        net.bn.weight.uniform_(0.5, 1.5)
    return net.eval(), (torch.randn(1, 3, 12, 10), torch.randn(1, 4))


def test_module_through_the_python_api(tmp_path: Path) -> None:
    from webdnn.browser.node import run_model_node

    net, args = _net()
    r = convert(net, tmp_path / "out", ["fallback", "wasm"], example_inputs=args)
    assert set(r.backends) == {"fallback", "wasm"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [i["name"] for i in manifest["inputs"]] == ["image", "extra"]  # forward()'s parameter names
    assert manifest["converter"]["format"] == "pytorch-module"
    assert manifest["converter"]["producer"] == f"pytorch {torch.__version__}"
    with torch.no_grad():
        want = net(*args).numpy()
    for backend in ("fallback", "wasm"):
        got = run_model_node(str(tmp_path / "out"), {"image": args[0].numpy(), "extra": args[1].numpy()},
                             (backend,)).outputs
        have = next(iter(got.values()))
        c = compare(backend, want, have)
        assert c.ok, f"{backend}: max abs err {c.max_abs_err:.3g}"
    with pytest.raises(ConversionError, match="needs example_inputs"):
        convert(net, tmp_path / "out2", ["fallback"])


def test_pt2_program_through_the_cli(tmp_path: Path) -> None:
    """An ExportedProgram saved under a name that does not say .pt2: recognized by its content."""
    from webdnn.browser.node import run_model_node

    net, args = _net()
    program = torch.export.export(net, args)
    path = tmp_path / "classifier.bin"
    torch.export.save(program, str(path))
    r = subprocess.run([sys.executable, "-m", "webdnn.cli", "convert", str(path), "-o", str(tmp_path / "out"),
                        "--backends", "fallback", "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["converter"]["format"] == "pytorch-pt2"
    with torch.no_grad():
        want = net(*args).numpy()
    got = run_model_node(str(tmp_path / "out"), {"image": args[0].numpy(), "extra": args[1].numpy()},
                         ("fallback",)).outputs
    np.testing.assert_allclose(next(iter(got.values())), want, rtol=1e-4, atol=1e-5)


_BLOCKED = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "onnxscript"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
from webdnn.convert import convert
from webdnn.errors import ModelLoadError
pt2, onnx_file, out = sys.argv[1:]
convert(onnx_file, out + "/onnx", ["fallback"])
try:
    convert(pt2, out + "/pt2", ["fallback"])
except ModelLoadError as e:
    print("ERROR:", e)
print("torch modules:", sorted(m for m in sys.modules if m.split(".")[0] == "torch"))
"""


def test_without_torch(tmp_path: Path) -> None:
    """With torch unimportable: ONNX still converts, and a .pt2 is a clear error that says what to install."""
    net, args = _net()
    torch.export.save(torch.export.export(net, args), str(tmp_path / "net.pt2"))
    torch.onnx.export(net, args, str(tmp_path / "net.onnx"), dynamo=False, input_names=["image", "extra"])
    r = subprocess.run([sys.executable, "-c", _BLOCKED, str(tmp_path / "net.pt2"), str(tmp_path / "net.onnx"),
                        str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "net.pt2 (a torch.export program) needs PyTorch to export it to ONNX: pip install torch" in r.stdout
    assert "torch modules: []" in r.stdout
    assert (tmp_path / "onnx" / "manifest.json").exists()
    assert not (tmp_path / "pt2").exists()


@pytest.mark.slow
@pytest.mark.browser
def test_real_minilm_module_on_every_backend(tmp_path: Path, browser: Any) -> None:
    """all-MiniLM-L6-v2's real weights in a PyTorch nn.Module, converted through the Python API, on every
    backend in headless Chromium against PyTorch's own sentence embedding."""
    from tests.frontend.torch_minilm import load_minilm
    from webdnn.zoo.pretrained import PretrainedUnavailableError, WordPieceTokenizer, minilm_files

    try:
        model_dir = minilm_files()
    except PretrainedUnavailableError as e:
        pytest.skip(str(e))
    net = load_minilm(model_dir)
    tok = WordPieceTokenizer(model_dir / "vocab.txt").tokenize(["This is an example sentence"])
    ids, mask = torch.from_numpy(tok["input_ids"]), torch.from_numpy(tok["attention_mask"])
    with torch.no_grad():
        want = net(ids, mask).numpy()
    # the sentence-transformers embedding of this sentence starts 0.0677, 0.0635, 0.0487
    np.testing.assert_allclose(want[0, :3], [0.0677, 0.0635, 0.0487], atol=2e-4)
    backends = ["fallback", "wasm", "webgl", "webgpu"]
    convert(net, tmp_path / "out", backends, example_inputs=(ids, mask))
    for backend in backends:
        r = browser.run_model(str(tmp_path / "out"), {"input_ids": tok["input_ids"],
                                                      "attention_mask": tok["attention_mask"]}, [backend])
        assert r.backend == backend
        have = next(iter(r.outputs.values()))
        c = compare(f"MiniLM module on {backend}", want, have)
        assert c.ok, f"{backend}: max abs err {c.max_abs_err:.3g} {c.detail}"
