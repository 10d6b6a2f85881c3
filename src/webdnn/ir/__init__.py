"""The intermediate representation: a typed graph with static shapes."""

from webdnn.ir.dtypes import DType
from webdnn.ir.graph import Graph, Node, Value

__all__ = ["DType", "Graph", "Node", "Value"]
