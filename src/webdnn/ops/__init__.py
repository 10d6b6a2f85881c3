"""Operator shape rules, one file per op family. Importing this registers them all."""

from webdnn.ops import elementwise, nn, tensor  # noqa: F401
