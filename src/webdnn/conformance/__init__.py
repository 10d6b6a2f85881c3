"""ONNX backend node-conformance runner for WebDNN backends.

`cases` builds the ONNX node test cases from the installed onnx package (cached on disk),
`run` converts and runs them on a backend in headless Chromium or Node and checks the
outputs, `summary` prints counts, `docs` writes docs/operators.md. Entry point:
`python -m webdnn.conformance --help`.
"""
