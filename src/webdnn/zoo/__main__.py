"""python -m webdnn.zoo NAME -o model.onnx [--seed S] [--opset N] [--batch B]"""

from __future__ import annotations

import argparse

from . import BUILDERS, build, save


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m webdnn.zoo", description="Write a seeded zoo model as ONNX."
    )
    parser.add_argument("name", choices=sorted(BUILDERS))
    parser.add_argument("-o", "--output", required=True, help="output .onnx path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--batch", help="batch size, or a name for a symbolic batch dimension")
    args = parser.parse_args(argv)
    kw: dict[str, object] = {"seed": args.seed, "opset": args.opset}
    if args.batch is not None:
        kw["batch"] = int(args.batch) if args.batch.isdigit() else args.batch
    save(build(args.name, **kw), args.output)
    print(f"wrote {args.name} (seed {args.seed}, opset {args.opset}) to {args.output}")


if __name__ == "__main__":
    main()
