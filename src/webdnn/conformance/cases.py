"""The ONNX backend node test cases, generated from the installed onnx package.

The onnx wheel ships the case generators (onnx.backend.test.case.node) but not their
data folder, so the cases are written once (a few seconds) into a cache directory and
rewritten when the onnx version changes. Layout, as in onnx's own data folder:
  <dir>/index.json                      what `load_cases` returns, and the onnx version
  <dir>/<case>/model.onnx
  <dir>/<case>/test_data_set_0/input_<i>.pb, output_<i>.pb
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from webdnn.browser.paths import REPO_ROOT

DEFAULT_DIR = os.environ.get("WEBDNN_CONFORMANCE_CASES") or os.path.join(REPO_ROOT, "build", "onnx-node-cases")
INDEX = "index.json"
DATA_SET = "test_data_set_0"
# Function-op cases are repeated with the function body expanded into primitive ops.
_EXPANDED = re.compile(r"_expanded(_ver\d+)?$")


@dataclass(frozen=True)
class Case:
    name: str
    op: str  # the op under test; domain-qualified outside the default domain ("ai.onnx.ml.Binarizer")
    op_types: tuple[str, ...]  # every op type of the model's graph (domain-qualified likewise)
    expanded: bool  # the op's function body, expanded into other ops
    rtol: float  # the tolerance ONNX's own backend test runner uses for this case
    atol: float
    inputs: tuple[tuple[str, str], ...]  # (name, ONNX element type name, or the kind of a non-tensor)
    outputs: tuple[tuple[str, str], ...]
    directory: str

    @property
    def model_path(self) -> str:
        return os.path.join(self.directory, "model.onnx")

    @property
    def non_tensor_io(self) -> list[str]:
        """Inputs/outputs that are sequences, optionals or maps (not a WebDNN model's I/O)."""
        return [f"{n} ({t})" for n, t in self.inputs + self.outputs if not t.isupper()]

    def input_arrays(self) -> dict[str, np.ndarray]:
        return {n: _read_tensor(os.path.join(self.directory, DATA_SET, f"input_{i}.pb")) for i, (n, _) in
                enumerate(self.inputs)}

    def expected_outputs(self) -> dict[str, np.ndarray]:
        return {n: _read_tensor(os.path.join(self.directory, DATA_SET, f"output_{i}.pb")) for i, (n, _) in
                enumerate(self.outputs)}


def load_cases(directory: str = DEFAULT_DIR) -> list[Case]:
    """Every node case, generating the cache first when it is missing or from another onnx version."""
    index = os.path.join(directory, INDEX)
    meta = _read_index(index)
    if meta is None or meta.get("onnx") != onnx.__version__:
        os.makedirs(os.path.dirname(os.path.abspath(directory)), exist_ok=True)
        # one writer at a time: parallel test workers would otherwise replace the cache under each other
        import fcntl  # POSIX only, as the conformance runner is

        with open(os.path.abspath(directory) + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            meta = _read_index(index)
            if meta is None or meta.get("onnx") != onnx.__version__:
                generate(directory)
                meta = _read_index(index)
        assert meta is not None
    return [
        Case(c["name"], c["op"], tuple(c["op_types"]), c["expanded"], c["rtol"], c["atol"],
             tuple((n, t) for n, t in c["inputs"]), tuple((n, t) for n, t in c["outputs"]),
             os.path.join(directory, c["name"]))
        for c in meta["cases"]
    ]


def generate(directory: str = DEFAULT_DIR) -> None:
    """Write every node case of the installed onnx into `directory` (replaced as a whole)."""
    import onnx.backend.test.case.node as node_cases

    with warnings.catch_warnings():  # the generators overflow casts and divide by zero on purpose
        warnings.simplefilter("ignore")
        cases = node_cases.collect_testcases(None)
    parent = os.path.dirname(os.path.abspath(directory))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".onnx-node-cases.", dir=parent)
    try:
        base_op = {c.name: op_name(c.model.graph.node[0]) for c in cases if c.model and not _EXPANDED.search(c.name)}
        index = [_write_case(c, os.path.join(tmp, c.name), base_op) for c in cases]
        with open(os.path.join(tmp, INDEX), "w") as f:
            json.dump({"onnx": onnx.__version__, "cases": index}, f, indent=0)
        if os.path.exists(directory):
            shutil.rmtree(directory)
        os.rename(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_case(case: Any, out: str, base_op: dict[str, str]) -> dict[str, Any]:
    model: onnx.ModelProto = case.model
    os.makedirs(os.path.join(out, DATA_SET))
    with open(os.path.join(out, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    (ins, outs), = case.data_sets  # node cases have exactly one data set
    for kind, infos, arrays in (("input", model.graph.input, ins), ("output", model.graph.output, outs)):
        for i, (info, a) in enumerate(zip(infos, arrays, strict=True)):
            if info.type.HasField("tensor_type"):  # sequences etc. are never run: no data needed
                t = a if isinstance(a, TensorProto) else numpy_helper.from_array(np.asarray(a), info.name)
                with open(os.path.join(out, DATA_SET, f"{kind}_{i}.pb"), "wb") as f:
                    f.write(t.SerializeToString())
    base = _EXPANDED.sub("", case.name)
    return {
        "name": case.name,
        "op": base_op.get(base) or op_name(model.graph.node[0]),
        "op_types": sorted({op_name(n) for n in model.graph.node}),
        "expanded": base != case.name,
        "rtol": case.rtol,
        "atol": case.atol,
        "inputs": [[i.name, _type_name(i.type)] for i in model.graph.input],
        "outputs": [[o.name, _type_name(o.type)] for o in model.graph.output],
    }


def op_name(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"


def _type_name(t: onnx.TypeProto) -> str:
    """'FLOAT', 'INT64', ... for tensors; the lower-case kind otherwise ('sequence_type', ...)."""
    kind = t.WhichOneof("value")
    if kind == "tensor_type":
        return str(TensorProto.DataType.Name(t.tensor_type.elem_type))
    return str(kind)


def _read_index(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            data: dict[str, Any] = json.load(f)
            return data
    except (OSError, ValueError):
        return None


def _read_tensor(path: str) -> np.ndarray:
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return np.asarray(numpy_helper.to_array(t))
