"""The `webdnn` command: convert, run, verify, serve, ops."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import click
import numpy as np

from webdnn.backends.common.weight_encoding import ENCODINGS
from webdnn.errors import WebDNNError

BACKEND_HELP = "comma-separated backends: fallback, wasm, webgl, webgpu (those this version has)"


def _progress(quiet: bool) -> Callable[[str], None]:
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        if not quiet:
            click.echo(f"[{time.perf_counter() - t0:7.2f}s] {msg}", err=True)

    return say


def _shapes(specs: Sequence[str], symbols: bool = True) -> dict[str, tuple[int | str, ...]]:
    """NAME=D1,D2,...: each dim an integer, or (where `symbols`) a name for a dynamic dim with
    optional bounds (seq, seq<=512, 8<=seq<=512)."""
    from webdnn.errors import ShapeError
    from webdnn.frontend.input_dims import parse_dim

    out: dict[str, tuple[int | str, ...]] = {}
    for s in specs:
        name, sep, dims = s.partition("=")
        if not sep or not name or not dims:
            raise click.BadParameter(f"'{s}': expected NAME=D1,D2,... (e.g. input=1,3,224,224 or input_ids=1,seq<=512)")
        parsed: list[int | str] = []
        for d in dims.split(","):
            try:
                p = parse_dim(d, f"'{s}'")
            except ShapeError as e:
                raise click.BadParameter(str(e)) from None
            if isinstance(p, tuple) and not symbols:
                raise click.BadParameter(f"'{s}': dim {d!r} must be an integer here (the size to run at)")
            parsed.append(p if isinstance(p, int) else d.strip())
        out[name] = tuple(parsed)
    return out


def _inputs(specs: Sequence[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for s in specs:
        name, sep, path = s.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{s}': expected NAME=FILE.npy")
        try:
            out[name] = np.load(path)
        except (OSError, ValueError) as e:
            raise click.BadParameter(f"'{s}': cannot read {path}: {e}") from None
    return out


def _backends(s: str) -> list[str]:
    return [b.strip() for b in s.split(",") if b.strip()]


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WebDNNError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="webdnn")
def main() -> None:
    """WebDNN: convert trained models and run them in the browser."""


def _value_inputs(specs: tuple[str, ...]) -> dict[str, list[str] | None]:
    """--value-input NAME or NAME=S1,S2,...: the input's element symbols (None: named after it)."""
    out: dict[str, list[str] | None] = {}
    for spec in specs:
        name, _, rest = spec.partition("=")
        out[name.strip()] = [p.strip() for p in rest.split(",")] if rest else None
    return out


@main.command()
@click.argument("model", type=click.Path())
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="output directory")
@click.option("--backends", default=None, help=BACKEND_HELP + "; default: every backend that can run the model")
@click.option(
    "--input-shape", "input_shape", multiple=True, metavar="NAME=D1,D2,...",
    help="an input's shape: integers fix dims, names keep them dynamic (input_ids=1,seq<=512)",
)
@click.option("--dynamic/--fixed", default=True, show_default=True,
              help="keep the model's dynamic dims (dim_param, -1) as symbols (the model runs at any size), or fix "
              "them to 1 (the fastest code for that one size; --input-shape fixes them to other sizes)")
@click.option(
    "--value-input", "value_input", multiple=True, metavar="NAME[=S1,S2,...]",
    help="an int input whose values are sizes (a Reshape's shape): symbols bound from its data at run, "
    "optionally named and bounded per element (shape=rows<=64,cols<=64)",
)
@click.option("--weights", "weights", type=click.Choice(list(ENCODINGS)), default="fp32", show_default=True,
              help="how the weights are stored for download: fp16 halves them, int8 (32-element blocks with a scale "
              "each) makes them 0.27x, int4 0.14x (big MatMul weights; check with --check-accuracy); the runtime "
              "decodes them to float32 at load (webgpu keeps the GEMM weights packed and unpacks them in the shader)")
@click.option("--check-accuracy", "check_accuracy", is_flag=True,
              help="with --weights fp16/int8/int4: refuse the conversion when an output's cosine similarity to fp32 "
              "(onnxruntime, random inputs) falls under --min-cosine")
@click.option("--min-cosine", "min_cosine", type=float, default=0.99, show_default=True,
              help="the bound of --check-accuracy")
@click.option("-q", "--quiet", is_flag=True)
def convert(
    model: str, out_dir: str, backends: str | None, input_shape: tuple[str, ...], dynamic: bool,
    value_input: tuple[str, ...], weights: str, check_accuracy: bool, min_cosine: float, quiet: bool,
) -> None:
    """Convert MODEL into a WebDNN model directory. MODEL: an ONNX file, a Keras model (.keras archive or
    full-model .h5), a TensorFlow.js layers or graph model (its model.json, or the directory holding it and its
    weight shards) or a torch.export program (.pt2); the format is read from the content."""
    from webdnn.convert import convert as do_convert

    say = _progress(quiet)
    r = do_convert(
        model, out_dir, _backends(backends) if backends else None, _shapes(input_shape), progress=say, dynamic=dynamic,
        value_inputs=_value_inputs(value_input), weights=weights, check_accuracy=min_cosine if check_accuracy else None,
    )
    for b, info in r.backends.items():
        arena, naive = info["arena_bytes"], info["naive_bytes"]
        at = ", ".join(f"{k}={v}" for k, v in info.get("planned_at", {}).items())
        saved = 1 - arena / naive if naive else 0.0
        say(
            f"{b}: {info['kernels']} kernels, arena {arena / 2**20:.1f} MiB{f' at {at}' if at else ''} "
            f"(naive {naive / 2**20:.1f} MiB, {saved:.0%} saved), "
            f"{info['byteLength'] / 2**20:.1f} MiB files"
        )
    say(f"wrote {out_dir} in {r.seconds:.1f}s ({r.passes.nodes_before} -> {r.passes.nodes_after} nodes)")


@main.command()
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--backend", default="fallback", show_default=True)
@click.option("--input", "inputs", multiple=True, metavar="NAME=FILE.npy", required=True)
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False), help="outputs (.npz)")
@click.option("--node", "use_node", is_flag=True, help="run in Node instead of headless Chromium")
@click.option("--browser", "engine", type=click.Choice(["chromium", "firefox", "webkit"]), default="chromium",
              show_default=True, help="the browser engine to run in (Firefox: firefox-esr; WebKit: WebKitGTK)")
@click.option("--repeat", default=1, show_default=True, help="timed runs")
@click.option("--warmup", default=0, show_default=True)
def run(model_dir: str, backend: str, inputs: tuple[str, ...], out_path: str, use_node: bool, engine: str, repeat: int,
        warmup: int) -> None:
    """Run a converted model (in headless Chromium, or --browser firefox|webkit, or --node) and save its outputs."""
    r = _execute(model_dir, _inputs(inputs), [backend], use_node, warmup, repeat, engine=engine)
    np.savez(out_path, **r.outputs)
    where = "Node" if use_node else engine.capitalize().replace("Webkit", "WebKit")
    click.echo(
        f"{where} {r.backend}: load {r.load_ms:.0f} ms, first run {r.first_run_ms:.1f} ms, "
        f"median {r.median_ms:.1f} ms over {len(r.times_ms)} runs; outputs -> {out_path}"
    )
    for name, a in r.outputs.items():
        click.echo(f"  {name}: {a.dtype} {list(a.shape)} first values {np.ravel(a)[:5].tolist()}")


def _execute(model_dir: str, inputs: dict[str, np.ndarray], order: list[str], use_node: bool, warmup: int,
             repeat: int, csp: bool = False, engine: str = "chromium") -> Any:
    from webdnn.browser.io import check_inputs, model_inputs

    check_inputs(inputs, model_inputs(model_dir), model_dir)  # before starting a browser or Node
    if use_node:
        from webdnn.browser.node import run_model_node

        return run_model_node(model_dir, inputs, order, warmup, repeat)
    from webdnn.browser.driver import Browser

    with Browser(engine=engine) as b:
        return b.run_model(model_dir, inputs, order, warmup, repeat, csp=csp)


@main.command()
@click.argument("model", type=click.Path(exists=True))
@click.option("--backends", default="fallback", show_default=True, help=BACKEND_HELP)
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=D1,D2,...")
@click.option("--input", "inputs", multiple=True, metavar="NAME=FILE.npy", help="inputs (default: seeded random)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--node", "use_node", is_flag=True, help="run in Node instead of headless Chromium")
@click.option("--browser", "engine", type=click.Choice(["chromium", "firefox", "webkit"]), default="chromium",
              show_default=True, help="the browser engine to run in (Firefox: firefox-esr; WebKit: WebKitGTK)")
@click.option("--repeat", default=3, show_default=True)
@click.option("--tolerance", default=1e-4, show_default=True, help="max abs error / max(1, |ref|)")
def verify(model: str, backends: str, input_shape: tuple[str, ...], inputs: tuple[str, ...], as_json: bool,
           use_node: bool, engine: str, repeat: int, tolerance: float) -> None:
    """Convert MODEL, run it, and compare with onnxruntime. Exit 0 only if all pass.

    MODEL: any format convert reads; a Keras, TF.js or PyTorch model is compared with onnxruntime on the ONNX
    graph its frontend made."""
    from webdnn.verify_model import verify_model

    report = verify_model(model, _backends(backends), _shapes(input_shape, symbols=False), _inputs(inputs),
                          use_node=use_node, repeat=repeat, tolerance=tolerance, engine=engine,
                          progress=_progress(as_json))
    if as_json:
        click.echo(json.dumps(report, indent=None))
    else:
        for r in report["results"]:
            status = "PASS" if r["ok"] else "FAIL"
            timing = f"  median {r['ms']:.1f} ms" if r["ms"] is not None else ""
            click.echo(f"{report['model']} [{r['backend']}] {status}{timing}"
                       + (f"  error: {r['error']}" if r.get("error") else ""))
            for o in r.get("outputs", []):
                click.echo(f"    {o['name']:<32} max_abs_err {o['max_abs_err']:.3g}  max_rel_err {o['max_rel_err']:.3g}"
                           f"  {'ok' if o['ok'] else 'FAIL ' + o['detail']}")
    sys.exit(0 if all(r["ok"] for r in report["results"]) else 1)


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False), default=".")
@click.option("--port", default=8000, show_default=True)
@click.option("--no-isolation", is_flag=True, help="omit COOP/COEP headers")
def serve(directory: str, port: int, no_isolation: bool) -> None:
    """Serve DIRECTORY with COOP/COEP headers (the runtime is under /runtime/)."""
    from webdnn.browser.paths import runtime_dist
    from webdnn.browser.server import StaticServer

    mounts = {"/": directory}
    try:
        mounts["/runtime/"] = runtime_dist()
    except WebDNNError:
        pass
    srv = StaticServer(mounts, port=port, isolate=not no_isolation)
    click.echo(f"serving {os.path.abspath(directory)} at {srv.url}/ (runtime at /runtime/); Ctrl-C stops")
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--model", default=None, type=click.Path(exists=True),
              help="your model (any format convert reads); default: a seeded test SqueezeNet")
@click.option("--backends", default=None, help=BACKEND_HELP + "; default: every backend that can run the model")
@click.option("-q", "--quiet", is_flag=True)
def init(directory: str, model: str | None, backends: str | None, quiet: bool) -> None:
    """Write a starter app into DIRECTORY (new or empty): a page, the runtime and a converted model."""
    from webdnn.starter import init_app

    path = init_app(directory, model, _backends(backends) if backends else None, say=_progress(quiet))
    click.echo(f"wrote {path}: index.html, app.js, webdnn/ (the runtime), model/\n"
               f"run `webdnn serve {directory}` and open http://127.0.0.1:8000/")


@main.command("demo-site")
@click.option("-o", "--out", "out_dir", default="build/site", show_default=True, help="where the site is written")
@click.option("--cache", default="build/demo", show_default=True, help="the demo's converted-model cache")
@click.option("--reconvert", is_flag=True, help="convert the model even if the cached conversion is current")
@click.option("-q", "--quiet", is_flag=True)
def demo_site(out_dir: str, cache: str, reconvert: bool, quiet: bool) -> None:
    """Write the demo site (image recognition with EfficientNet-Lite0) as static files into OUT."""
    from webdnn.demo_site import build_site, how_to_open
    from webdnn.zoo.pretrained import PretrainedUnavailableError

    try:
        site = build_site(out_dir, cache, reconvert, say=_progress(quiet))
    except (PretrainedUnavailableError, OSError) as e:
        raise WebDNNError(str(e)) from None
    click.echo(how_to_open(site))


@main.command()
@click.option("--backend", default="fallback", show_default=True)
def ops(backend: str) -> None:
    """List the operators a backend supports."""
    import importlib

    from webdnn.backends import BACKENDS

    if backend not in BACKENDS:
        raise click.BadParameter(f"unknown backend {backend}; available: {', '.join(BACKENDS)}")
    module = importlib.import_module(f"webdnn.backends.{backend}.lower")
    click.echo("\n".join(module.supported()))


@main.command()
@click.argument("name")
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False))
@click.option("--seed", default=0, show_default=True)
@click.option("--opset", default=17, show_default=True)
def zoo(name: str, out_path: str, seed: int, opset: int) -> None:
    """Build a seeded test model (vgg16, resnet50, ...) as ONNX."""
    from webdnn import zoo as z

    model = z.build(name, seed=seed, opset=opset)
    d = os.path.dirname(os.path.abspath(out_path))
    try:
        os.makedirs(d, exist_ok=True)
        # A temporary directory beside the output, so the file (and an external `<file>.data`, whose name
        # the model records) appears complete or not at all. Not tempfile's: its files are mode 0600, these
        # get the umask's permissions like any file a user writes.
        tmp = os.path.join(d, f".{os.path.basename(out_path)}.{secrets.token_hex(8)}.tmp")
        os.mkdir(tmp)
    except OSError as e:
        raise WebDNNError(f"cannot write {out_path}: {e.strerror} ({e.filename}); choose another path") from None
    try:
        staged = os.path.join(tmp, os.path.basename(out_path))
        z.save(model, staged)
        for f in sorted(os.listdir(tmp), key=lambda n: n == os.path.basename(staged)):  # the model file last
            os.replace(os.path.join(tmp, f), os.path.join(d, f))
    except OSError as e:
        raise WebDNNError(f"cannot write {out_path}: {e.strerror} ({e.filename}); choose another path") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    click.echo(f"wrote {out_path}")


@main.command()
@click.option("--models", default=None, help="comma-separated zoo models (default: all six; --quick: squeezenet1_1)")
@click.option("--runtimes", default=None,
              help="comma-separated: webdnn, onnxruntime-web, tfjs, onnxruntime-native (the default), and"
              " webdnn-keras, webdnn-tfjs (the CNN through WebDNN's Keras / TF.js frontends, wasm)")
@click.option("--backends", "bench_backends", default=None,
              help="comma-separated: wasm, webgpu, webgl, fallback, cpu (default: all; --quick: no GPU)")
@click.option("--threads", default="1,2", show_default=True, help="thread counts for the CPU runtimes")
@click.option("--quick", is_flag=True, help="small subset, short budgets (under 3 minutes)")
@click.option("--repeat", type=int, default=None, help="timed runs per row (default 10)")
@click.option("--warmup", type=int, default=None, help="warm-up runs per row (default 3; --quick 1)")
@click.option("--rounds", type=int, default=1, show_default=True,
              help="measure each model's rows this many times in turn and pool their timed runs (machine drift)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object {machine, results} on stdout")
@click.option("--write", is_flag=True, help="write docs/benchmarks.md, bench/results/latest.json, docs/benchmarks.png")
@click.option("--out-json", default=None, type=click.Path(dir_okay=False), help="also write the JSON here")
@click.option("--work-dir", default=None, type=click.Path(file_okay=False), help="keep the prepared models here")
@click.option("--no-peak", is_flag=True, help="skip the WebAssembly SIMD peak measurement")
@click.option("--gpu-all", is_flag=True, help="WebGPU/WebGL rows for every model (default: up to 1 GFLOP)")
@click.option("--node-webgpu", type=click.Choice(["system", "swiftshader"]), default=None,
              help="also time WebDNN webgpu in Node (npm webgpu, Dawn) on the system's Vulkan driver (a real GPU, "
              "no browser needed) or on Chromium's SwiftShader")
@click.option("--browser", "engine", type=click.Choice(["chromium", "firefox", "webkit"]), default="chromium",
              show_default=True, help="the engine the page rows run in; firefox/webkit with --write record a side run "
                                      "(bench/results/engine-<engine>.json, its own section of docs/benchmarks.md)")
@click.option("--no-browser", is_flag=True, help="no Chromium: only native and Node rows (with --node-webgpu)")
@click.option("--merge", is_flag=True, help="with --write: replace only the measured rows of the recorded report "
              "(bench/results/latest.json) and keep the others; the report says which rows came from which run")
@click.option("-q", "--quiet", is_flag=True)
def bench(models: str | None, runtimes: str | None, bench_backends: str | None, threads: str, quick: bool,
          repeat: int | None, warmup: int | None, as_json: bool, write: bool, out_json: str | None,
          work_dir: str | None, no_peak: bool, gpu_all: bool, node_webgpu: str | None, engine: str, no_browser: bool,
          merge: bool, quiet: bool, rounds: int) -> None:
    """Time WebDNN next to ONNX Runtime Web, TF.js and native onnxruntime (one headless browser session)."""
    from webdnn.bench.cli import bench_command

    bench_command(models=models, runtimes=runtimes, backends=bench_backends, threads=threads, quick=quick,
                  repeat=repeat, warmup=warmup, as_json=as_json, write=write, out_json=out_json, work_dir=work_dir,
                  peak=not no_peak, gpu_all=gpu_all, node_webgpu=node_webgpu, browser=not no_browser,
                  merge=merge, rounds=rounds, say=_progress(quiet), argv=sys.argv[1:], engine=engine)


if __name__ == "__main__":
    main()
