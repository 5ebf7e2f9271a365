"""Objectives written as text in a config, compiled to torch operations through an allow-list.

``objective: "exp(sin(x)**2)/(x-y)**2 + (x-y)**2"`` with ``init: {x: 0.2, y: 10}`` becomes a
function of ``x`` and ``y`` made of torch calls, with the same values and gradients as the
hand-written ``two_variable``. The text is only *parsed* (``ast.parse``); each node is checked
against an allow-list and translated into a closure. Nothing is handed to ``eval``, ``exec`` or a
code-producing ``compile``, and no name is looked up anywhere but in the tables of ``grammar.py``, so a config
cannot run code.

Allowed: numbers; the declared parameter names; the constants ``pi`` and ``e`` (a parameter of
the same name wins); ``+ - * / **`` with a number literal as exponent (``|p| <= 100``); unary
``+ -``; parentheses; and one-argument calls of the functions in ``FUNCTIONS``. Limits: ``MAX_LENGTH``
characters, ``MAX_DEPTH`` levels of nesting, ``MAX_NODES`` nodes. Every declared parameter
must appear. Anything else raises ExpressionError (exit code 2) naming the offending part.

Example::

    f = compile_expression("(x - 2)**2", ["x"])
    f(torch.tensor(-3.5))  # tensor(30.2500)
"""

from __future__ import annotations

import ast
import inspect
import keyword
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from scaffold.errors import ConfigError
from scaffold.problems.grammar import (
    BINARY,
    CONSTANTS,
    FORBIDDEN,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LENGTH,
    MAX_NODES,
    UNARY,
    constant_refusal,
    refusal,
)

_LINE_END = re.compile(r"\r\n|\r|\n")

Env = Mapping[str, Tensor]
Closure = Callable[[Env], Tensor]
Part = int | float | Closure  # a folded constant, or a closure over the parameters


class ExpressionError(ConfigError):
    """An objective expression that is not allowed or cannot be parsed (exit code 2)."""


class CompiledObjective:
    """An objective compiled from text: call it with tensors, by position or by parameter name."""

    def __init__(self, text: str, names: Sequence[str], body: Closure) -> None:
        self.text = text
        self.names = tuple(names)
        self.__name__ = text
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        self.__signature__ = inspect.Signature([inspect.Parameter(name, kind) for name in self.names])
        self._body = body

    def __call__(self, *args: Tensor, **kwargs: Tensor) -> Tensor:
        """The objective's value at the given parameter tensors."""
        return self._body(self.__signature__.bind(*args, **kwargs).arguments)

    def __repr__(self) -> str:
        return f"f({', '.join(self.names)}) = {self.text}"

    def __reduce__(self) -> tuple:
        # Closures do not pickle; the text and names rebuild the same function (e.g. in DDP spawn).
        return compile_expression, (self.text, list(self.names))


def compile_expression(text: str, names: Sequence[str], label: str = "model.objective") -> CompiledObjective:
    """Compile ``text``, an expression over the parameters ``names``, into a torch objective.

    Raises ExpressionError (a ConfigError, exit code 2) for anything outside the allow-list; the
    message starts with ``label`` and points at the offending part.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"{label} must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"{label} is {len(text)} characters long; the limit is {MAX_LENGTH}")
    source = text.strip()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for '1 is 1'; we report our own
            tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        where = f" at column {error.offset}" if error.offset else ""
        if error.offset and error.lineno and error.lineno > 1:
            where = f" at line {error.lineno}, column {error.offset}"
        raise ExpressionError(
            f"{label}: {_shorten(source)!r} is not a valid expression: {error.msg}{where}"
        ) from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise ExpressionError(f"{label}: {_shorten(source)!r} cannot be parsed: {error}") from None
    return compile_tree(tree, names, label, source)


def compile_tree(
    tree: ast.Expression, names: Sequence[str], label: str = "model.objective", text: str | None = None
) -> CompiledObjective:
    """Check an already parsed ``tree`` against the allow-list and translate it into torch calls.

    ``text`` is the source the tree was parsed from, used to point at the offending part; for a
    tree built by hand, pass None. Raises ExpressionError like ``compile_expression``.
    """
    names = list(names)
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ExpressionError(f"model.init name {name!r} is not a valid parameter name for {label}")
    if not isinstance(tree, ast.Expression):
        raise ExpressionError(f"{label}: expected an expression, got {type(tree).__name__}")
    translator = _Translator(names, label, text)
    body = translator.visit(tree.body, 1)
    unused = [name for name in names if name not in translator.used]
    if unused:
        raise ExpressionError(
            f"{label}: model.init declares {', '.join(map(repr, unused))}, which the expression never "
            "uses; use each declared parameter, or remove it from model.init"
        )
    if not callable(body):
        raise ExpressionError(
            f"{label}: the expression uses no parameters; declare them in model.init, e.g. init: {{x: 0.0}}"
        )
    return CompiledObjective(ast.unparse(tree) if text is None else text, names, body)


class _Translator:
    """One recursive pass: reject what is not allowed, fold constants, build closures for the rest."""

    def __init__(self, names: list[str], label: str, text: str | None) -> None:
        self.names = names
        # Python's parser NFKC-normalises identifiers (the micro sign µ reads as Greek μ): match them so.
        self.spelled = {unicodedata.normalize("NFKC", name): name for name in names}
        self.label = label
        self.text = text
        self.used: set[str] = set()
        self.count = 0

    def visit(self, node: ast.AST, depth: int) -> Part:
        """Translate ``node``; ``depth`` counts the levels above it, checked before going deeper."""
        if depth > MAX_DEPTH:
            raise self.error(node, f"the expression is nested more than {MAX_DEPTH} levels deep")
        self.count += 1
        if self.count > MAX_NODES:
            raise self.error(node, f"the expression has more than {MAX_NODES} parts")
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
            operand = self.visit(node.operand, depth + 1)
            op = UNARY[type(node.op)]
            # Negating a Python number cannot overflow or raise, so it is folded in Python.
            return op(operand) if _is_number(operand) else _apply(op, operand)
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            if isinstance(node.op, ast.Pow):
                self.check_exponent(node.right)
            left, right = self.visit(node.left, depth + 1), self.visit(node.right, depth + 1)
            return self.combine(node, BINARY[type(node.op)], left, right)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.error(node, refusal(node))

    def number(self, node: ast.Constant) -> int | float:
        """A numeric literal (not bool, str, complex, ...), finite and representable as a float."""
        value = node.value
        if type(value) not in (int, float):
            raise self.error(node, constant_refusal(value))
        try:
            as_float = float(value)
        except OverflowError:
            as_float = math.inf
        if not math.isfinite(as_float):
            raise self.error(node, "the number is too large")
        return value if isinstance(value, int) and abs(value) <= 2**53 else as_float

    def name(self, node: ast.Name) -> Part:
        """A declared parameter (a closure reading it) or a named constant."""
        if not isinstance(node.ctx, ast.Load):
            raise self.error(node, "assignment is not allowed")
        if node.id in self.spelled:
            name = self.spelled[node.id]
            self.used.add(name)
            return lambda env: env[name]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            raise self.error(node, f"{node.id!r} is a function; call it, e.g. {node.id}(x)")
        declared = ", ".join(self.names) or "none"
        raise self.error(node, f"unknown name {node.id!r}; parameters declared in model.init: {declared}")

    def call(self, node: ast.Call, depth: int) -> Part:
        """One positional argument to an allow-listed function, by name."""
        if not isinstance(node.func, ast.Name):
            forbidden = type(node.func) in FORBIDDEN
            reason = refusal(node.func) if forbidden else "calling the result of an expression"
            raise self.error(node.func, f"{reason}; only the listed functions can be called, by name")
        if node.func.id not in FUNCTIONS:
            raise self.error(node.func, f"unknown function {node.func.id!r}")
        if node.keywords:
            raise self.error(node.keywords[0], refusal(node.keywords[0]))
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.error(arg, refusal(arg))
        if len(node.args) != 1:
            raise self.error(node, f"{node.func.id}() takes exactly one argument, got {len(node.args)}")
        function = FUNCTIONS[node.func.id]
        argument = self.visit(node.args[0], depth + 1)
        return self.fold(node, function, argument) if _is_number(argument) else _apply(function, argument)

    def check_exponent(self, node: ast.expr) -> None:
        """The right operand of ``**`` must be a number literal, optionally signed, of modest size."""
        literal = node.operand if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY else node
        is_number = isinstance(literal, ast.Constant) and type(literal.value) in (int, float)
        if not is_number or not abs(literal.value) <= MAX_EXPONENT:
            raise self.error(
                node,
                f"the exponent must be a number between -{MAX_EXPONENT} and {MAX_EXPONENT}, "
                "e.g. x**2 or x**-0.5 (use exp and log for other powers)",
            )

    def combine(self, node: ast.AST, op: Callable, left: Part, right: Part) -> Part:
        """``left op right``: folded when both are numbers, else a closure over the parameters."""
        if _is_number(left) and _is_number(right):
            return self.fold(node, op, left, right)
        lhs, rhs = _lift(left), _lift(right)
        return lambda env: op(lhs(env), rhs(env))

    def fold(self, node: ast.AST, op: Callable, *numbers: int | float) -> float:
        """Evaluate a constant part once, in float64 torch (which never raises on 1/0 or overflow)."""
        result = op(*(torch.tensor(float(n), dtype=torch.float64) for n in numbers)).item()
        if not math.isfinite(result):
            raise self.error(node, f"this constant part evaluates to {result}")
        return result

    def error(self, node: ast.AST, reason: str) -> ExpressionError:
        """An ExpressionError naming the part at ``node`` and what is allowed instead."""
        if self.text is None:
            where = f"{type(node).__name__} node"
        else:
            segment = ast.get_source_segment(self.text, node) or self.text
            where = f"{_shorten(segment)!r}{_column(self.text, node)}"
        parameters = ", ".join(self.names) or "(none declared in model.init)"
        return ExpressionError(
            f"{self.label}: {where}: {reason}; allowed: numbers, parameters {parameters}, "
            f"constants pi and e, + - * / ** (exponent: a number from -{MAX_EXPONENT} to {MAX_EXPONENT}), "
            f"unary + -, parentheses, and the functions {', '.join(sorted(FUNCTIONS))}"
        )


def _is_number(part: Part) -> bool:
    return isinstance(part, (int, float))


def _lift(part: Part) -> Closure:
    if _is_number(part):
        return lambda env: part
    return part


def _apply(function: Callable[[Tensor], Tensor], argument: Closure) -> Closure:
    return lambda env: function(argument(env))


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _column(text: str, node: ast.AST) -> str:
    """' at column C' (or ' at line L, column C'), in characters; '' when the node has no position."""
    lineno, offset = node.__dict__.get("lineno"), node.__dict__.get("col_offset")
    lines = _LINE_END.split(text)
    if not isinstance(lineno, int) or not isinstance(offset, int) or not 1 <= lineno <= len(lines):
        return ""
    # ast offsets count UTF-8 bytes; users count characters.
    column = len(lines[lineno - 1].encode()[:offset].decode(errors="replace")) + 1
    return f" at column {column}" if lineno == 1 else f" at line {lineno}, column {column}"
