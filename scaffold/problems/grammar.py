"""The formula language of config objectives: what it allows, its limits, and why the rest is refused.

``expression.py`` compiles a formula against these tables; nothing outside them is ever looked up.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional

MAX_LENGTH = 1000
MAX_DEPTH = 50
MAX_NODES = 1000
MAX_EXPONENT = 100

FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "abs": torch.abs, "acos": torch.acos, "asin": torch.asin, "atan": torch.atan,
    "cos": torch.cos, "cosh": torch.cosh, "exp": torch.exp, "expm1": torch.expm1,
    "log": torch.log, "log1p": torch.log1p, "relu": torch.relu, "sigmoid": torch.sigmoid,
    "sin": torch.sin, "sinh": torch.sinh, "softplus": functional.softplus, "sqrt": torch.sqrt,
    "tan": torch.tan, "tanh": torch.tanh,
}  # fmt: skip
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

BINARY: dict[type[ast.operator], Callable] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow,
}  # fmt: skip
UNARY: dict[type[ast.unaryop], Callable] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
SYMBOLS = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not", ast.Invert: "~",
}  # fmt: skip
FORBIDDEN = {
    ast.Attribute: "attribute access is", ast.Subscript: "subscripts are", ast.Slice: "slices are",
    ast.Lambda: "lambdas are", ast.ListComp: "comprehensions are", ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are", ast.GeneratorExp: "generator expressions are",
    ast.Compare: "comparisons are", ast.BoolOp: "'and'/'or' are", ast.IfExp: "conditional expressions are",
    ast.NamedExpr: "assignment expressions (:=) are", ast.Starred: "starred arguments are",
    ast.Tuple: "tuples are", ast.List: "lists are", ast.Set: "sets are", ast.Dict: "dicts are",
    ast.JoinedStr: "f-strings are", ast.FormattedValue: "f-strings are", ast.Await: "'await' is",
    ast.Yield: "'yield' is", ast.YieldFrom: "'yield' is", ast.keyword: "keyword arguments are",
}  # fmt: skip


def refusal(node: ast.AST) -> str:
    """Why ``node`` is refused, for the error message."""
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return f"the operator {SYMBOLS.get(type(node.op), type(node.op).__name__)!r} is not allowed"
    if type(node) in FORBIDDEN:
        return f"{FORBIDDEN[type(node)]} not allowed"
    if isinstance(node, ast.Call):
        return "calls are allowed only to the listed functions"
    return f"{type(node).__name__} is not allowed"


def constant_refusal(value: object) -> str:
    """Why a literal ``value`` other than a real number is refused."""
    kinds = {bool: "True/False are", str: "strings are", bytes: "bytes are", complex: "complex numbers are"}
    if value is None or value is Ellipsis:
        return f"{value!r} is not allowed"
    return f"{kinds.get(type(value), type(value).__name__ + ' constants are')} not allowed"
