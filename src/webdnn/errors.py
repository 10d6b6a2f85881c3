"""Errors raised by the transpiler. Each says what was wrong, where, and what to do."""

from __future__ import annotations


class WebDNNError(Exception):
    """Base class of every error the transpiler reports to a user."""


class ModelLoadError(WebDNNError):
    """The model file is missing, truncated or not a model of the expected format."""


class UnsupportedOperatorError(WebDNNError):
    """A node uses an operator (or an attribute value) no backend supports."""


class ShapeError(WebDNNError):
    """Shapes could not be made static, or do not fit together."""


class ConversionError(WebDNNError):
    """Any other failure while lowering a model to a backend."""


def where(node_name: str, op_type: str, opset: int | None = None) -> str:
    """A uniform 'node X (OpType, opset N)' phrase for error messages."""
    at = f" opset {opset}" if opset is not None else ""
    return f"node '{node_name}' ({op_type}{at})"
